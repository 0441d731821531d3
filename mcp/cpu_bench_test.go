package mcp_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
)

// cpuTimes is the CPU time spent so far by the three kinds of process a
// call keeps busy: this test process (the server runs in it, beside the
// benchmark's client), its children (the sandbox children that decide
// account rules and rules in shadow) and the PostgreSQL the tests use.
type cpuTimes struct {
	self, children, postgres time.Duration
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{a.self - b.self, a.children - b.children, a.postgres - b.postgres}
}

func (a cpuTimes) add(b cpuTimes) cpuTimes {
	return cpuTimes{a.self + b.self, a.children + b.children, a.postgres + b.postgres}
}

func (a cpuTimes) total() time.Duration { return a.self + a.children + a.postgres }

// cpuMeter reads cpuTimes from /proc (Linux only). Its own reading is not
// counted as this process's time, so that reading as often as the
// benchmark likes costs neither side anything.
type cpuMeter struct {
	postmaster int
	overhead   time.Duration // this process's CPU spent reading
}

// newCPUMeter finds the postmaster of the tests' PostgreSQL: the parent of
// a backend. It returns nil where there is no /proc to read.
func newCPUMeter(b *testing.B) *cpuMeter {
	var backend int
	if err := dbtest.Owner(b).QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}
	st, ok := readStat(backend)
	if !ok {
		return nil
	}
	return &cpuMeter{postmaster: st.ppid}
}

// read is the CPU time spent so far. Processes that have exited are
// counted through their parent's cutime and cstime (the postmaster waits
// for its backends; this process for its children).
func (m *cpuMeter) read() cpuTimes {
	start := selfCPU()
	var t cpuTimes
	self := os.Getpid()
	if st, ok := readStat(self); ok {
		t.children = st.deadChildren
	}
	for _, pid := range childrenOf(self) {
		t.children += runTime(pid)
	}
	if st, ok := readStat(m.postmaster); ok {
		t.postgres = runTime(m.postmaster) + st.deadChildren
	}
	for _, pid := range childrenOf(m.postmaster) {
		t.postgres += runTime(pid)
	}
	end := selfCPU()
	m.overhead += end - start
	t.self = end - m.overhead
	return t
}

// childrenOf lists a process's children: from each of its threads'
// children files, or, where the kernel has none, from every process's
// parent.
func childrenOf(pid int) []int {
	var out []int
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err == nil && len(tasks) > 0 {
		for _, f := range tasks {
			raw, _ := os.ReadFile(f)
			for _, field := range strings.Fields(string(raw)) {
				if c, err := strconv.Atoi(field); err == nil {
					out = append(out, c)
				}
			}
		}
		return out
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		c, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, ok := readStat(c); ok && st.ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// runTime is a live process's CPU time: the sum of its threads' run time
// in nanoseconds (schedstat), or its user and system ticks where the
// kernel keeps no schedstat (a tick is 10 ms, coarse against a block of
// calls).
func runTime(pid int) time.Duration {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if len(files) == 0 {
		st, _ := readStat(pid)
		return st.own
	}
	var sum time.Duration
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if fields := strings.Fields(string(raw)); len(fields) > 0 {
			ns, _ := strconv.ParseInt(fields[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// selfCPU is this process's user and system time (microseconds, unlike
// /proc's ticks).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type procStat struct {
	ppid              int
	own, deadChildren time.Duration
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ).
const clockTick = 10 * time.Millisecond

// readStat reads a process's parent and CPU times from /proc/<pid>/stat.
func readStat(pid int) (procStat, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis (field 3 is the state).
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return procStat{}, false
	}
	n := func(field int) int64 { v, _ := strconv.ParseInt(f[field-3], 10, 64); return v }
	return procStat{
		ppid:         int(n(4)),
		own:          time.Duration(n(14)+n(15)) * clockTick,
		deadChildren: time.Duration(n(16)+n(17)) * clockTick,
	}, true
}
