package sandbox

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

const schedIdle = unix.SCHED_IDLE

// threadPolicies is the scheduling class of each thread of this process.
func threadPolicies() []uint32 {
	var out []uint32
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			out = append(out, a.Policy)
		}
	}
	return out
}
