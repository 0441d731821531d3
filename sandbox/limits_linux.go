package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// ownExecutable is the file this process runs: /proc/self/exe is the
// running binary even after a deploy replaced the file at its path, so a
// child always speaks its parent's protocol.
func ownExecutable() (string, error) { return "/proc/self/exe", nil }

// childAttr kills the child when the parent dies (it also exits when its
// stdin closes).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// lowerPriority sets every thread of this process to childNice. On Linux
// the priority is per thread; threads started later inherit their
// creator's.
func lowerPriority() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			syscall.Setpriority(syscall.PRIO_PROCESS, tid, childNice)
		}
	}
}

// addressSlack is address space a Go process reserves beyond what it holds
// (arenas come 64 MB at a time, each new thread reserves a stack).
const addressSlack = 512 << 20

// limitAddressSpace makes an allocation past memory bytes beyond what the
// process has mapped now fail at once (the Go runtime then exits with
// "out of memory"), so that a single call that allocates gigabytes cannot
// outrun the parent's sampling of resident memory. The race detector maps
// terabytes of shadow memory as it goes, so under it only the sampling
// applies.
func limitAddressSpace(memory int64) {
	if raceEnabled {
		return
	}
	size, ok := statusBytes("/proc/self/status", "VmSize:")
	if !ok {
		return
	}
	limit := uint64(size + memory + addressSlack)
	syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit})
}

// residentBytes is a process's resident memory.
func residentBytes(pid int) (int64, bool) {
	return statusBytes("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS:")
}

// statusBytes reads one "Name:   1234 kB" line of a /proc status file.
func statusBytes(path, field string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	i := bytes.Index(b, []byte(field))
	if i < 0 {
		return 0, false
	}
	line := b[i+len(field):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	f := bytes.Fields(line)
	if len(f) == 0 {
		return 0, false
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	return kb << 10, err == nil
}
