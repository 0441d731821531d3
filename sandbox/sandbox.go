// Package sandbox runs work the server's process cannot bound itself — an
// account's own Rego — in child processes of the same executable, where a
// bound is enforced from outside: the child is killed when a call runs past
// its deadline or the child holds more memory than its limit, whatever the
// work was doing at that moment (a Go goroutine cannot be stopped; a
// process can). Each child uses one CPU at a lower scheduling priority; one
// key (an account) holds at most one child at a time; and keys whose calls
// ran long lately share half of the children, so that slow tenants cannot
// occupy the children the others need, nor the server's CPUs.
//
// The child is this same executable, started with DESKWOOT_SANDBOX=<role>
// in an otherwise empty environment; its main (or a test binary's
// TestMain) calls the package that serves the role first thing (see
// policy.ServeSandboxIfChild). Requests and answers are gob values over the
// child's stdin and stdout, one call at a time.
package sandbox

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// envRole names the role a child serves; envMemory its memory limit.
const (
	envRole   = "DESKWOOT_SANDBOX"
	envMemory = "DESKWOOT_SANDBOX_MEMORY"
)

// Errors of a call. The child is killed (or died) for each but ErrBusy.
var (
	// ErrTimeout is a call that ran past its deadline and grace.
	ErrTimeout = errors.New("it ran past its deadline and was stopped")
	// ErrMemory is a call whose child held more memory than its limit.
	ErrMemory = errors.New("it used more memory than its limit and was stopped")
	// ErrCrashed is a child that died during a call (out of memory at its
	// hard address-space limit, or a crash).
	ErrCrashed = errors.New("the process evaluating it stopped (out of memory or a crash)")
	// ErrBusy is a call that found no free child for its key before its
	// context ended.
	ErrBusy = errors.New("no sandbox was free in time")
)

// Limits bound the children of a pool.
type Limits struct {
	// Workers is the most children alive at once (default 2).
	Workers int
	// Memory is the resident memory, in bytes, a child may hold (default
	// 512 MiB); past it the child is killed.
	Memory int64
	// Grace is how long past a call's own deadline the child is given to
	// answer before it is killed (default 500 ms).
	Grace time.Duration
	// Start bounds a child's start, up to its first answer (default 60 s).
	Start time.Duration
	// GCPercent is the children's GOGC (0: Go's default, 100): a child
	// that works through batches can trade memory, still bounded by its
	// GOMEMLIMIT and Memory, for less of its CPU spent collecting.
	GCPercent int
	// Slow is how long a call may take before its key counts as slow for
	// SlowFor (default 250 ms, for 1 minute); a call that is killed counts
	// too. Slow keys hold at most SlowWorkers children at once (default
	// half of Workers, at least one).
	Slow        time.Duration
	SlowFor     time.Duration
	SlowWorkers int
}

func (l Limits) withDefaults() Limits {
	if l.Workers <= 0 {
		l.Workers = 2
	}
	if l.Memory <= 0 {
		l.Memory = 512 << 20
	}
	if l.Grace <= 0 {
		l.Grace = 500 * time.Millisecond
	}
	if l.Start <= 0 {
		l.Start = 60 * time.Second
	}
	if l.Slow <= 0 {
		l.Slow = 250 * time.Millisecond
	}
	if l.SlowFor <= 0 {
		l.SlowFor = time.Minute
	}
	if l.SlowWorkers <= 0 {
		l.SlowWorkers = max(1, l.Workers/2)
	}
	return l
}

// envelope is one message from a child: its readiness, an answer, or why
// it could not answer.
type envelope[Resp any] struct {
	Ready bool
	Body  Resp
	Err   string // the handler panicked (its text stays in the child's log)
}

// Pool is a set of children serving one role. Safe for concurrent use.
type Pool[Req, Resp any] struct {
	role   string
	limits Limits

	idle   chan *child[Resp] // children waiting for work
	tokens chan struct{}     // one per live child
	slow   chan struct{}     // one per child a slow key holds
	closed atomic.Bool       // Close was called: children coming back are killed

	mu       sync.Mutex
	keys     map[int64]*keySlot
	slowKeys map[int64]time.Time // keys whose calls ran long lately, until when
}

type keySlot struct {
	ch    chan struct{}
	users int
}

// NewPool makes a pool of children serving role. No child starts until the
// first call.
func NewPool[Req, Resp any](role string, l Limits) *Pool[Req, Resp] {
	l = l.withDefaults()
	return &Pool[Req, Resp]{role: role, limits: l,
		idle: make(chan *child[Resp], l.Workers), tokens: make(chan struct{}, l.Workers), slow: make(chan struct{}, l.SlowWorkers),
		keys: map[int64]*keySlot{}, slowKeys: map[int64]time.Time{}}
}

// Call sends req to a child on behalf of key and waits for the answer. The
// child is given limit (the work's own deadline, which the child should
// keep) plus the pool's grace; past that, or past its memory limit, it is
// killed and Call returns ErrTimeout or ErrMemory. ctx bounds only the wait
// for a free child (ErrBusy); once sent, a call ends within limit + grace.
func (p *Pool[Req, Resp]) Call(ctx context.Context, key int64, limit time.Duration, req Req) (Resp, error) {
	var zero Resp
	release, err := p.holdKey(ctx, key)
	if err != nil {
		return zero, err
	}
	defer release()
	if p.isSlow(key) {
		select {
		case p.slow <- struct{}{}:
			defer func() { <-p.slow }()
		case <-ctx.Done():
			return zero, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
		}
	}
	c, err := p.take(ctx)
	if err != nil {
		return zero, err
	}
	start := time.Now()
	resp, err := c.call(req, limit+p.limits.Grace, p.limits.Memory)
	p.give(c)
	p.note(key, time.Since(start) > p.limits.Slow || err != nil)
	return resp, err
}

// isSlow says whether key's calls ran long lately.
func (p *Pool[Req, Resp]) isSlow(key int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	until, ok := p.slowKeys[key]
	return ok && time.Now().Before(until)
}

// note records whether key's last call ran long (or was killed).
func (p *Pool[Req, Resp]) note(key int64, slow bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slow {
		delete(p.slowKeys, key)
		return
	}
	now := time.Now()
	if len(p.slowKeys) >= maxSlowKeys {
		for k, until := range p.slowKeys {
			if now.After(until) {
				delete(p.slowKeys, k)
			}
		}
	}
	p.slowKeys[key] = now.Add(p.limits.SlowFor)
}

// maxSlowKeys is when the slow keys are swept of the expired ones.
const maxSlowKeys = 10000

// Close kills every idle child; children busy in a call are killed as
// they come back.
func (p *Pool[Req, Resp]) Close() {
	p.closed.Store(true)
	for {
		select {
		case c := <-p.idle:
			c.kill()
			<-p.tokens
		default:
			return
		}
	}
}

// holdKey waits until no other call of key holds a child.
func (p *Pool[Req, Resp]) holdKey(ctx context.Context, key int64) (release func(), err error) {
	p.mu.Lock()
	s := p.keys[key]
	if s == nil {
		s = &keySlot{ch: make(chan struct{}, 1)}
		p.keys[key] = s
	}
	s.users++
	p.mu.Unlock()
	done := func() {
		p.mu.Lock()
		if s.users--; s.users == 0 {
			delete(p.keys, key)
		}
		p.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
}

// take returns an idle child, or starts one while fewer than Workers live.
// A child that died while idle is let go and another taken.
func (p *Pool[Req, Resp]) take(ctx context.Context) (*child[Resp], error) {
	for {
		c, err := p.takeAny(ctx)
		if err != nil || !c.dead() {
			return c, err
		}
		<-p.tokens
	}
}

func (p *Pool[Req, Resp]) takeAny(ctx context.Context) (*child[Resp], error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	select {
	case c := <-p.idle:
		return c, nil
	case p.tokens <- struct{}{}:
		c, err := start[Resp](p.role, p.limits)
		if err != nil {
			<-p.tokens
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
}

// give puts a child back, or lets a dead one go (and a live one, once the
// pool is closed).
func (p *Pool[Req, Resp]) give(c *child[Resp]) {
	if p.closed.Load() {
		c.kill()
	}
	if c.dead() {
		<-p.tokens
		return
	}
	p.idle <- c
}

// child is one running child process.
type child[Resp any] struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	enc  *gob.Encoder
	out  chan envelope[Resp] // answers, read by readLoop
	gone chan struct{}       // closed when the child has exited
}

// start runs a child and waits until it is ready.
func start[Resp any](role string, l Limits) (*child[Resp], error) {
	exe, err := ownExecutable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: find own executable: %w", err)
	}
	// -test.list=^$: a test binary that does not serve the role lists no
	// tests and exits at once (Call then fails at start, saying so),
	// instead of running the whole suite again. The server ignores it.
	cmd := exec.Command(exe, "-test.list=^$")
	cmd.Env = []string{envRole + "=" + role, envMemory + "=" + strconv.FormatInt(l.Memory, 10),
		"GOMAXPROCS=1", "GOMEMLIMIT=" + strconv.FormatInt(l.Memory/2, 10)}
	if l.GCPercent > 0 {
		cmd.Env = append(cmd.Env, "GOGC="+strconv.Itoa(l.GCPercent))
	}
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = childAttr()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sandbox: start child: %w", err)
	}
	c := &child[Resp]{cmd: cmd, in: in, enc: gob.NewEncoder(in), out: make(chan envelope[Resp], 1), gone: make(chan struct{})}
	go c.readLoop(out)
	go func() { cmd.Wait(); close(c.gone) }()
	timer := time.NewTimer(l.Start)
	defer timer.Stop()
	select {
	case env, ok := <-c.out:
		if ok && env.Ready {
			return c, nil
		}
	case <-timer.C:
		c.kill()
		return nil, fmt.Errorf("sandbox: the %s child was not ready after %s", role, l.Start)
	case <-c.gone:
	}
	c.kill()
	return nil, fmt.Errorf("sandbox: the %s child exited at start without saying it was ready; the executable must serve its role first thing (DESKWOOT_SANDBOX=%s)", role, role)
}

// readLoop delivers the child's messages until its stdout closes.
func (c *child[Resp]) readLoop(r io.Reader) {
	dec := gob.NewDecoder(r)
	defer close(c.out)
	for {
		var env envelope[Resp]
		if dec.Decode(&env) != nil {
			return
		}
		c.out <- env
	}
}

// rssEvery is how often a busy child's resident memory is read.
const rssEvery = 20 * time.Millisecond

// call sends one request and waits at most hard for its answer, killing
// the child when it runs over (even while the request is still being
// written) or holds more than memory bytes.
func (c *child[Resp]) call(req any, hard time.Duration, memory int64) (Resp, error) {
	var zero Resp
	var overran atomic.Bool
	timer := time.AfterFunc(hard, func() {
		overran.Store(true)
		c.cmd.Process.Kill()
	})
	defer func() {
		if !timer.Stop() {
			c.kill() // the timer fired: the child is (being) killed; wait for it
		}
	}()
	died := func() error {
		c.kill()
		if overran.Load() {
			return ErrTimeout
		}
		return ErrCrashed
	}
	if err := c.enc.Encode(req); err != nil {
		return zero, died()
	}
	tick := time.NewTicker(rssEvery)
	defer tick.Stop()
	for {
		select {
		case env, ok := <-c.out:
			switch {
			case !ok:
				return zero, died()
			case env.Err != "":
				return zero, fmt.Errorf("%w: %s", ErrCrashed, env.Err)
			}
			return env.Body, nil
		case <-tick.C:
			if rss, ok := residentBytes(c.cmd.Process.Pid); ok && rss > memory {
				c.kill()
				return zero, ErrMemory
			}
		}
	}
}

// kill ends the child and waits until it is gone.
func (c *child[Resp]) kill() {
	c.cmd.Process.Kill()
	c.in.Close()
	<-c.gone
}

func (c *child[Resp]) dead() bool {
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}
