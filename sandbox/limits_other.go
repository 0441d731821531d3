//go:build !linux

package sandbox

import (
	"os"
	"syscall"
)

// Elsewhere than Linux a child is bounded in time only: it is still killed
// past its deadline, but its priority, address space and resident memory
// are not limited.

func ownExecutable() (string, error) { return os.Executable() }

func childAttr() *syscall.SysProcAttr { return nil }

func lowerPriority() {}

func limitAddressSpace(int64) {}

func residentBytes(int) (int64, bool) { return 0, false }
