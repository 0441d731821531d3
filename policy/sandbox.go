package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/sandbox"
)

// Account rules are compiled, tested and evaluated in sandbox children
// (package sandbox), not in the server's process. Why a process: OPA
// checks its deadline between evaluation steps, and a single step can run
// for minutes or allocate gigabytes — a builtin call, but also plain Rego:
// two equal arrays of 2^34 shared leaves compared with ==, or the type
// checker on a module that nests a variable in itself thirty times (both
// measured: minutes of CPU in one step, from modules of a few kilobytes).
// builtins.go refuses the builtins that make huge values at submission,
// with their line; no static list can refuse the rest. A child
// is killed when it runs past the deadline plus sandboxGrace or holds more
// than sandboxMemory; it runs on one CPU at a lower priority; one account
// holds at most one child at a time, and accounts whose rules ran long
// lately share half of the children, so one account's rules cannot take
// the server, its CPUs or the other accounts' children.

// sandboxRole is the role a policy child serves (sandbox.Role).
const sandboxRole = "policy"

// The bounds of the children evaluating account rules.
const (
	// sandboxMemory is the resident memory a child may hold. A child
	// holding the base policy compiled and a few account modules is
	// about 25 MB (55 MB under the race detector).
	sandboxMemory = 512 << 20
	// sandboxGrace is how long past its deadline a call's child may take
	// to answer before it is killed.
	sandboxGrace = 500 * time.Millisecond
)

// sandboxWorkers is the most children at once: two per CPU, at least
// four. Accounts whose rules ran long lately share half of them
// (sandbox.Limits.SlowWorkers), so the others always find one.
func sandboxWorkers() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// Operations of a sandbox request.
const (
	opCheck  = "check"  // parse, check and compile a module with its tests
	opTest   = "test"   // opCheck, then run the tests
	opDecide = "decide" // decide a batch of inputs with a module
)

// sandboxRequest is one call to a child.
type sandboxRequest struct {
	Op    string
	Rules TenantRules // the module (and tests); for opDecide, sent when the child asks
	// Hash names Rules.Rego in the child's cache of compiled modules.
	Hash    string
	Version int
	Inputs  [][]byte // opDecide: input documents, JSON
	// Allowed (opDecide, optional) says which inputs the rules in force
	// allowed in the parent, on the same base policy (DecideLive).
	Allowed []bool
	Budget  time.Duration // opDecide: start no decision past this (the first always starts)
}

// sandboxAnswer is a child's answer.
type sandboxAnswer struct {
	NeedRules bool       // the child has not compiled Hash: send Rules
	RuleErr   *RuleError // opCheck, opTest: the module was refused
	Report    TestReport // opTest
	Results   []sandboxResult
}

// sandboxResult is one decision of an opDecide.
type sandboxResult struct {
	Decision Decision
	Why      string     // why the rules failed, in plain words ("" when they decided)
	RuleErr  *RuleError // the rule's error, naming its line
	Detail   string     // any other error's text
	Skipped  bool       // the input is not a decision's input
}

// ServeSandboxIfChild makes this process a sandbox child evaluating
// account rules, if it was started as one, and then never returns;
// otherwise it returns at once. The server's main and the TestMain of
// every package whose tests decide with account rules call it first (a
// test binary that does not is refused as a child: its calls then fail,
// saying so).
func ServeSandboxIfChild() {
	if sandbox.Role() != sandboxRole {
		return
	}
	sandbox.Serve(func() (func(sandboxRequest) sandboxAnswer, error) {
		e, err := New(context.Background())
		if err != nil {
			return nil, err
		}
		w := &sandboxWorker{e: e, compiled: map[string]*compiledTenant{}}
		return w.handle, nil
	})
}

// rulesPool is a pool of children evaluating account rules.
type rulesPool = sandbox.Pool[sandboxRequest, sandboxAnswer]

// shadowLimits bound the children that decide rules in shadow (shadow.go):
// one child, so that shadows never take more than one CPU's share from
// the live calls, whatever the rules in shadow do. It decides batches of
// calls, whose every CPU-microsecond comes out of the live calls on a
// busy machine, and collects its garbage less often (GOGC 400): its heap
// goes to about five times its live 25 MB, within its memory limits, and
// a call in shadow costs it a quarter less CPU (BenchmarkShadowTrip).
func shadowLimits(live sandbox.Limits) sandbox.Limits {
	live.Workers, live.SlowWorkers = 1, 1
	live.GCPercent = shadowGCPercent
	return live
}

// shadowGCPercent is the GOGC of the children deciding rules in shadow.
const shadowGCPercent = 400

// sandboxCall sends one request to the account's sandbox. ctx bounds the
// wait for a free child; limit is the work's own deadline.
func (e *Engine) sandboxCall(ctx context.Context, acct int64, limit time.Duration, req sandboxRequest) (sandboxAnswer, error) {
	return callPool(ctx, e.pool, acct, limit, req)
}

// callPool sends one request to the account's child in pool p.
func callPool(ctx context.Context, p *rulesPool, acct int64, limit time.Duration, req sandboxRequest) (sandboxAnswer, error) {
	wait, cancel := context.WithTimeout(ctx, max(limit, TenantTimeout))
	defer cancel()
	return p.Call(wait, acct, limit, req)
}

// sandboxRuleError turns a sandbox's failure to check or test a module into
// an answer for its author: a module that takes too long or too much
// memory to check is refused as such (a *RuleError), a busy sandbox is
// unavailable for a moment.
func sandboxRuleError(what string, limit time.Duration, err error) error {
	switch {
	case errors.Is(err, sandbox.ErrBusy):
		return fault.New(fault.Unavailable, "", "the sandbox that runs this account's rules is busy; try again in a moment")
	case errors.Is(err, sandbox.ErrTimeout):
		return &RuleError{File: TenantFile, Msg: fmt.Sprintf("%s took longer than %s; simplify the module or its tests", what, limit)}
	case errors.Is(err, sandbox.ErrMemory):
		return &RuleError{File: TenantFile, Msg: fmt.Sprintf("%s used more memory than its limit; simplify the module or its tests", what)}
	case errors.Is(err, sandbox.ErrCrashed):
		return &RuleError{File: TenantFile, Msg: fmt.Sprintf("%s crashed the process evaluating it; simplify the module or its tests", what)}
	}
	return err
}

// Close stops the sandbox children that are idle (the others stop as they
// finish).
func (e *Engine) Close() {
	e.pool.Close()
	e.shadowPool.Close()
}

// sandboxWorker is a child's state: the engine and the modules it has
// compiled.
type sandboxWorker struct {
	e        *Engine
	compiled map[string]*compiledTenant // by sandboxRequest.Hash
}

// maxCompiled bounds a child's compiled modules; past it they are
// forgotten at once (a miss costs one compile, a few milliseconds).
const maxCompiled = 32

func (w *sandboxWorker) handle(req sandboxRequest) sandboxAnswer {
	ctx := context.Background()
	switch req.Op {
	case opCheck:
		var a sandboxAnswer
		if _, _, err := w.e.tenantModules(req.Rules, true); err != nil {
			a.RuleErr = refusal(err)
		}
		return a
	case opTest:
		rep, err := w.e.runTenantTests(ctx, req.Rules)
		if err != nil {
			return sandboxAnswer{RuleErr: refusal(err)}
		}
		return sandboxAnswer{Report: rep}
	case opDecide:
		return w.decide(ctx, req)
	}
	return sandboxAnswer{RuleErr: &RuleError{File: TenantFile, Msg: "unknown sandbox operation " + req.Op}}
}

func (w *sandboxWorker) decide(ctx context.Context, req sandboxRequest) sandboxAnswer {
	ct := w.compiled[req.Hash]
	if ct == nil {
		if req.Rules.Rego == "" {
			return sandboxAnswer{NeedRules: true}
		}
		if len(w.compiled) >= maxCompiled {
			w.compiled = map[string]*compiledTenant{}
		}
		ct = w.e.compileTenant(ctx, req.Rules.Rego)
		w.compiled[req.Hash] = ct
	}
	start := time.Now()
	out := sandboxAnswer{Results: make([]sandboxResult, 0, len(req.Inputs))}
	for i, raw := range req.Inputs {
		if len(out.Results) > 0 && time.Since(start) > req.Budget {
			break
		}
		var in Input
		if json.Unmarshal(raw, &in) != nil {
			out.Results = append(out.Results, sandboxResult{Skipped: true})
			continue
		}
		allowed := i < len(req.Allowed) && req.Allowed[i]
		d, why, err := ct.decide(ctx, w.e, req.Version, in, allowed)
		r := sandboxResult{Decision: d, Why: why}
		if err != nil {
			if r.RuleErr = asRuleError(err); r.RuleErr == nil {
				r.Detail = err.Error()
			}
		}
		out.Results = append(out.Results, r)
	}
	return out
}

// refusal is err as a RuleError: a module that cannot be checked is
// refused, whatever the reason.
func refusal(err error) *RuleError {
	if re := asRuleError(err); re != nil {
		return re
	}
	return &RuleError{File: TenantFile, Msg: "the module could not be checked: " + err.Error()}
}

// asRuleError is err's RuleError, or nil.
func asRuleError(err error) *RuleError {
	var re *RuleError
	if errors.As(err, &re) {
		return re
	}
	return nil
}
