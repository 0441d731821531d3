package sandbox

import (
	"context"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary serves the role "test" when started as a child.
func TestMain(m *testing.M) {
	if Role() == "test" {
		Serve(func() (func(testReq) testResp, error) { return handleTest, nil })
	}
	os.Exit(m.Run())
}

type testReq struct {
	Op string
	N  int
}

type testResp struct {
	N    int
	Nice []int
	Env  []string
}

var sink []byte

func handleTest(r testReq) testResp {
	switch r.Op {
	case "sleep":
		time.Sleep(time.Duration(r.N) * time.Millisecond)
	case "alloc":
		sink = make([]byte, r.N<<20)
		for i := 0; i < len(sink); i += 4096 {
			sink[i] = 1
		}
	case "panic":
		panic("boom")
	case "exit":
		os.Exit(3)
	case "env":
		return testResp{Env: os.Environ()}
	case "gogc":
		gogc := debug.SetGCPercent(100)
		debug.SetGCPercent(gogc)
		return testResp{N: gogc}
	case "nice":
		var out []int
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			if p, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid); err == nil {
				out = append(out, 20-p) // the kernel answers 20 - nice
			}
		}
		return testResp{Nice: out}
	}
	return testResp{N: r.N}
}

func testPool(t *testing.T, l Limits) *Pool[testReq, testResp] {
	t.Helper()
	if l.Grace == 0 {
		l.Grace = 300 * time.Millisecond
	}
	p := NewPool[testReq, testResp]("test", l)
	t.Cleanup(p.Close)
	return p
}

func TestCallAnswers(t *testing.T) {
	t.Parallel()
	p := testPool(t, Limits{})
	for i := 1; i <= 3; i++ {
		r, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "echo", N: i})
		if err != nil || r.N != i {
			t.Fatalf("call %d: %+v, %v", i, r, err)
		}
	}
}

// TestCallPastItsDeadlineIsStopped: work that ignores its deadline is
// killed after the grace, and the next call gets a fresh child.
func TestCallPastItsDeadlineIsStopped(t *testing.T) {
	t.Parallel()
	p := testPool(t, Limits{Workers: 1})
	start := time.Now()
	_, err := p.Call(context.Background(), 1, 100*time.Millisecond, testReq{Op: "sleep", N: 60000})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the call took %s", took)
	}
	if r, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "echo", N: 7}); err != nil || r.N != 7 {
		t.Errorf("after a kill: %+v, %v", r, err)
	}
}

// TestMemoryPastItsLimitIsStopped: a call that allocates a gigabyte in a
// child allowed 128 MiB is stopped, by the resident-memory sampling or
// (without the race detector) by the address-space limit.
func TestMemoryPastItsLimitIsStopped(t *testing.T) {
	t.Parallel()
	p := testPool(t, Limits{Workers: 1, Memory: 128 << 20})
	_, err := p.Call(context.Background(), 1, 30*time.Second, testReq{Op: "alloc", N: 1024})
	if !errors.Is(err, ErrMemory) && !errors.Is(err, ErrCrashed) {
		t.Fatalf("got %v, want ErrMemory or ErrCrashed", err)
	}
	if r, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "alloc", N: 8}); err != nil || r.N != 8 {
		t.Errorf("a small allocation afterwards: %+v, %v", r, err)
	}
}

// TestPanicAndExit: a handler's panic is answered (the child lives on); a
// child that exits is ErrCrashed and replaced.
func TestPanicAndExit(t *testing.T) {
	t.Parallel()
	p := testPool(t, Limits{Workers: 1})
	if _, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "panic"}); !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), "panicked") || strings.Contains(err.Error(), "boom") {
		t.Errorf("panic: %v", err)
	}
	if _, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "exit"}); !errors.Is(err, ErrCrashed) {
		t.Errorf("exit: %v", err)
	}
	if r, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "echo", N: 3}); err != nil || r.N != 3 {
		t.Errorf("afterwards: %+v, %v", r, err)
	}
}

// TestOneChildPerKey: while a key's call runs, its next call waits (and
// gives up with ErrBusy when its context ends) and another key's call goes
// ahead on another child.
func TestOneChildPerKey(t *testing.T) {
	t.Parallel()
	p := testPool(t, Limits{Workers: 2})
	// Start both children first, so that the timing below is not a start.
	for k := int64(1); k <= 2; k++ {
		go p.Call(context.Background(), k, time.Second, testReq{Op: "sleep", N: 200})
	}
	time.Sleep(100 * time.Millisecond)
	p.Call(context.Background(), 1, time.Second, testReq{Op: "echo"})
	p.Call(context.Background(), 2, time.Second, testReq{Op: "echo"})

	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), 1, 5*time.Second, testReq{Op: "sleep", N: 3000})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.Call(ctx, 1, time.Second, testReq{Op: "echo"}); !errors.Is(err, ErrBusy) {
		t.Errorf("a second call of the busy key: %v, want ErrBusy", err)
	}
	if r, err := p.Call(context.Background(), 2, time.Second, testReq{Op: "echo", N: 5}); err != nil || r.N != 5 {
		t.Errorf("another key: %+v, %v", r, err)
	}
	if err := <-done; err != nil {
		t.Errorf("the long call: %v", err)
	}
}

// TestChildRunsNiced: every thread of a child runs at childNice.
func TestChildRunsNiced(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("priorities are lowered on Linux only")
	}
	p := testPool(t, Limits{Workers: 1})
	r, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "nice"})
	if err != nil || len(r.Nice) == 0 {
		t.Fatalf("%+v, %v", r, err)
	}
	for _, n := range r.Nice {
		if n != childNice {
			t.Errorf("a child thread runs at nice %d, want %d: %v", n, childNice, r.Nice)
		}
	}
}

// TestChildGCPercent: a pool's children collect garbage at its
// GCPercent, and at Go's default without one.
func TestChildGCPercent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ set, want int }{{0, 100}, {400, 400}} {
		p := testPool(t, Limits{Workers: 1, GCPercent: c.set})
		r, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "gogc"})
		if err != nil || r.N != c.want {
			t.Errorf("GCPercent %d: the child collects at GOGC %d (%v), want %d", c.set, r.N, err, c.want)
		}
	}
}

// TestChildEnvironment: a child sees none of its parent's environment
// (database URLs, keys): only its role and its limits.
func TestChildEnvironment(t *testing.T) {
	t.Setenv("DESKWOOT_TEST_SECRET", "postgres://owner:secret@db/deskwoot")
	p := testPool(t, Limits{Workers: 1})
	r, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "env"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range r.Env {
		name, _, _ := strings.Cut(kv, "=")
		if name != envRole && name != envMemory && name != "GOMAXPROCS" && name != "GOMEMLIMIT" {
			t.Errorf("the child sees %s", kv)
		}
	}
}

// TestRoleNotServed: a binary that does not serve the role fails the call
// at once, saying so, instead of running anything else.
func TestRoleNotServed(t *testing.T) {
	t.Parallel()
	p := NewPool[testReq, testResp]("nobody", Limits{})
	_, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "echo"})
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Errorf("got %v", err)
	}
}

// TestSlowKeysShareHalf: keys whose calls ran long hold at most
// SlowWorkers children at once, so a fast key always finds one.
func TestSlowKeysShareHalf(t *testing.T) {
	t.Parallel()
	p := testPool(t, Limits{Workers: 2, Slow: 50 * time.Millisecond})
	// Keys 1 and 2 become slow; both children start.
	done := make(chan error, 2)
	for k := int64(1); k <= 2; k++ {
		go func() {
			_, err := p.Call(context.Background(), k, time.Second, testReq{Op: "sleep", N: 100})
			done <- err
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Key 1 holds the one slow child; key 2 waits for it, and a fast key
	// gets the other child meanwhile.
	go func() {
		_, err := p.Call(context.Background(), 1, 5*time.Second, testReq{Op: "sleep", N: 2000})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := p.Call(ctx, 2, time.Second, testReq{Op: "echo"}); !errors.Is(err, ErrBusy) {
		t.Errorf("a second slow key: %v, want ErrBusy while the slow child is taken", err)
	}
	if r, err := p.Call(context.Background(), 3, time.Second, testReq{Op: "echo", N: 9}); err != nil || r.N != 9 {
		t.Errorf("a fast key: %+v, %v", r, err)
	}
	if err := <-done; err != nil {
		t.Errorf("the long call: %v", err)
	}
	// A fast call clears a key's slowness. An echo is fast, but on a
	// loaded machine one may still take longer than Slow (50 ms) and
	// rightly keep the key slow: it takes one of a few to be fast.
	var err error
	for range 5 {
		if _, err = p.Call(context.Background(), 1, time.Second, testReq{Op: "echo"}); err != nil || !p.isSlow(1) {
			break
		}
	}
	if err != nil || p.isSlow(1) {
		t.Errorf("key 1 after five echoes: slow %v, %v", p.isSlow(1), err)
	}
}

// BenchmarkCall is one round trip to a child that answers at once.
func BenchmarkCall(b *testing.B) {
	p := NewPool[testReq, testResp]("test", Limits{Workers: 1})
	defer p.Close()
	for b.Loop() {
		if _, err := p.Call(context.Background(), 1, time.Second, testReq{Op: "echo"}); err != nil {
			b.Fatal(err)
		}
	}
}
