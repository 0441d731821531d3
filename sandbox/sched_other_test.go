//go:build !linux

package sandbox

const schedIdle = 5

func threadPolicies() []uint32 { return nil }
