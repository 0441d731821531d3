package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/shadow"
	"github.com/deskwoot/deskwoot/tenancy"
)

// tool is one MCP tool as the server registers it (built from a spec):
// its definition, how to parse a call's arguments into its input struct,
// how to load the object it touches (under RLS, before the policy
// decides), and what it does once allowed: run for reads; for writes,
// write builds the desk command that desk.WriteDecided runs as one unit of
// work, which reads what touches names, has the policy decide on it, and
// commits the effect with the idempotency claim and the audit row.
type tool struct {
	def     mcpgo.Tool
	bind    func(args map[string]any) (any, error)
	target  func(ctx context.Context, c *call) error
	run     func(ctx context.Context, c *call) (any, error)
	write   func(c *call) (desk.Command, error)
	touches func(c *call) desk.TargetRef
	// keyed tools take a required idempotency_key (their input is keyed).
	keyed bool
	// waits marks a tool that can hold its request open (a long-poll): its
	// decision runs off the request's stack (see onDeepStack).
	waits bool
	// kind is the kind of object the policy decides the tool on (its
	// catalog entry's target), read once when the tool is registered.
	kind string
}

// call is one tools/call in flight.
type call struct {
	p *identity.MCPPrincipal
	// req is the request's way into its tenant: every read and write of
	// the call goes through it, so its first carries the guard, and the
	// call's audit row, once decided, rides with its work.
	req *tenancy.Request
	// args are the arguments as sent (what the policy reads, the audit
	// digests and an idempotency key fingerprints); in is the tool's input
	// struct parsed from them, once.
	args     map[string]any
	in       any
	target   policy.Target
	decision policy.Decision
	// loaded is what a target loader already read for run (a read that
	// fetched its target and its answer in one round trip).
	loaded any
}

// scope is what the desk shows this token.
func (c *call) scope() desk.Scope {
	return desk.Scope{InboxIDs: c.p.InboxIDs, TokenID: c.p.TokenID}
}

// wrap turns a tool into an mcp-go handler. A call whose first transaction
// finds the principal kept in memory changed (the request's guard) did
// nothing: the door authenticates afresh and makes the call again with
// the principal as it is now — or, with the token revoked or the account
// closed, answers the request as that says (request.refusal). A call over
// the rate limit, found by the same guard, is refused and audited.
func (s *Server) wrap(t tool) func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	return func(ctx context.Context, mreq mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		req := requestFrom(ctx)
		if req == nil {
			return mcpgo.NewToolResultError("not authenticated"), nil
		}
		args := mreq.GetArguments()
		if args == nil {
			args = map[string]any{}
		}
		for {
			res, err := s.callTool(ctx, req, t, args)
			switch {
			case errors.Is(err, tenancy.ErrPrincipalChanged):
				if s.refresh(ctx, req) {
					continue
				}
				return mcpgo.NewToolResultError("refused"), nil // the request's refusal is its answer
			case tenancy.GuardLimited(err):
				req.limited()
				continue
			}
			// The result goes straight into this request's answer (a call
			// run as a task would be answered later, elsewhere): the door
			// encodes it, once (encodeOnce).
			if err == nil && req.answer != nil && mreq.Params.Task == nil {
				res = req.answer.encodeOnce(res)
			}
			return res, err
		}
	}
}

// callTool makes one call: rate limit, parse the arguments into the tool's
// input (once; a bad argument is refused before anything is read), load
// the target, ask the policy, run, and audit the outcome either way. It
// returns the guard's refusal (see wrap), with nothing done, when the
// call's first transaction carried the request's guard and it refused.
func (s *Server) callTool(ctx context.Context, req *request, t tool, args map[string]any) (*mcpgo.CallToolResult, error) {
	p := &req.p
	now := s.cfg.Now()
	c := &call{p: p, req: req.tenant, args: args}
	c.req.Audit = nil // the call's row is set once decided
	entry := audit.Entry{ActorKind: "agent", ActorID: p.ServiceUserID, TokenID: p.TokenID, ClientID: p.ClientID, Action: t.def.Name,
		ArgsDigest: audit.DigestArgs(c.args), PolicyRev: s.cfg.Policy.Revision(), RequestID: req.id}
	start := time.Now()
	var inPolicy time.Duration
	if s.cfg.Observer != nil {
		defer func() { s.cfg.Observer.ToolCall(t.def.Name, entry.Decision, time.Since(start), inPolicy) }()
	}
	// fail records a call that changed nothing — refused, or failed — in a
	// transaction of its own. A row that cannot be written fails the call
	// with that error instead of its own: no answer goes unaudited.
	// A policy's refusal also counts toward the token's anomaly limits, in
	// the same round trip (see suspend).
	fail := func(decision string, msg string) (*mcpgo.CallToolResult, error) {
		entry.Decision, entry.Reasons, entry.Target = decision, []string{msg}, targetIDs(c.target)
		c.req.Record(entry)
		var err error
		var suspend string
		if decision == "deny" && countsAsRefusal(c.decision) && p.Account.CountsRefusals() {
			suspend, err = identity.RecordRefused(ctx, s.cfg.DB, c.req, identity.Refusal{TokenID: p.TokenID, OutsideInboxID: outsideInbox(c), Limits: p.Account})
		} else {
			err = s.cfg.DB.Record(ctx, c.req)
		}
		if err != nil {
			if tenancy.GuardRefused(err) {
				return nil, err
			}
			slog.ErrorContext(ctx, "audit write failed", "action", entry.Action, "err", err)
			return mcpgo.NewToolResultError(s.message(ctx, err)), nil
		}
		if suspend != "" && s.suspend(ctx, p, suspend, req.id) {
			msg += "; this token is now paused (" + suspend + "); an admin can resume it on Settings → MCP server"
		}
		return mcpgo.NewToolResultError(msg), nil
	}
	// failed is fail for an error of the call's own, or the guard's
	// refusal as it is.
	failed := func(err error) (*mcpgo.CallToolResult, error) {
		if tenancy.GuardRefused(err) {
			return nil, err
		}
		return fail("error", s.message(ctx, err))
	}
	if wait := p.RateRetryAfter; wait > 0 {
		return fail("deny", fmt.Sprintf("rate limit of %d calls per minute exceeded; retry in %d seconds", p.RateLimitPerMinute, int(math.Ceil(wait.Seconds()))))
	}
	var err error
	if c.in, err = t.bind(c.args); err != nil {
		return fail("error", s.message(ctx, err))
	}
	c.target.Kind = t.kind
	// The account's candidate in shadow, if any, decides the call again
	// once it has been answered and audited, off the call's path; its
	// flip names the call's audit row by id.
	var shadowed *shadow.Call
	defer func() {
		if shadowed != nil {
			shadowed.AuditID = c.req.AuditID()
			s.cfg.Shadow.Observe(shadowed)
		}
	}()
	// decide asks the policy about the call on its target; the call's row
	// records the decision's explanation either way.
	decide := func() bool {
		decideStart := time.Now()
		in := policy.Input{Principal: principalInput(p), Account: p.Account,
			Tool: t.def.Name, Args: c.args, Target: c.target, Now: now}
		d, err := s.decide(ctx, p, in, t.waits)
		inPolicy = time.Since(decideStart)
		if err != nil {
			slog.ErrorContext(ctx, "policy decision failed", "tool", t.def.Name, "err", err)
		}
		entry.Explanation = policy.Explain(in, d, entry.ArgsDigest, err)
		c.decision = d
		if s.cfg.Shadow.Watches(p.AccountID) {
			shadowed = &shadow.Call{AccountID: p.AccountID, At: start, Input: in, Decision: d}
		}
		return d.Allow
	}
	if t.write != nil {
		// A write reads what it touches, and is decided on it, inside its
		// own unit of work (see write); its row commits with its effect.
		out, err := s.write(ctx, t, c, &entry, now, decide)
		var no refused
		switch {
		case errors.As(err, &no):
			return fail("deny", strings.Join(c.decision.Reasons, "; "))
		case err != nil:
			return failed(err)
		}
		res, err := structured(out)
		if err == nil {
			s.withDraftCard(ctx, c, out, res)
		}
		return res, err
	}
	if t.target != nil {
		if err := t.target(ctx, c); err != nil {
			return failed(err)
		}
	}
	if !decide() {
		return fail("deny", strings.Join(c.decision.Reasons, "; "))
	}
	// Allowed: the read's row rides with its own batch and commits with it.
	entry.Decision, entry.Target = "allow", targetIDs(c.target)
	c.req.Record(entry)
	out, err := t.run(ctx, c)
	if err != nil {
		return failed(err)
	}
	if !c.req.Audited() {
		// The answer came with the target, before the decision: its row
		// goes now, and the answer only once it is in.
		if err := s.cfg.DB.Read(ctx, c.req, nil); err != nil {
			return failed(err)
		}
	}
	return structured(out)
}

// write runs a write tool as one unit of work in the desk
// (desk.WriteDecided): in the round trip that begins it, with the
// request's guard and the idempotency claim, the desk reads what the write
// touches; decide then has the policy decide on it, and the command runs;
// the effect and the call's audit row commit together, or none of them
// does. A denial rolls the unit back and comes back as refused.
func (s *Server) write(ctx context.Context, t tool, c *call, entry *audit.Entry, now time.Time, decide func() bool) (any, error) {
	var key *desk.IdempotencyKey
	if t.keyed {
		key = &desk.IdempotencyKey{TokenID: c.p.TokenID, Key: c.in.(keyed).idempotencyKey(), Tool: t.def.Name,
			Fingerprint: desk.Fingerprint(t.def.Name, c.args), Expires: now.Add(s.cfg.IdempotencyTTL)}
	}
	var ref desk.TargetRef
	if t.touches != nil {
		ref = t.touches(c)
	}
	allowed := *entry
	allowed.Decision = "allow"
	c.req.Record(allowed)
	return s.cfg.Desk.WriteDecided(ctx, c.req, key, ref, func(tg desk.Target) (desk.Command, error) {
		c.aim(tg)
		ok := decide()
		c.req.Audit.Target, c.req.Audit.Explanation = targetIDs(c.target), entry.Explanation
		if !ok {
			return nil, refused{}
		}
		return t.write(c)
	})
}

// countsAsRefusal says a denial counts toward the token's anomaly limits:
// the policy refused what the token asked (a scope it lacks, an object
// outside its inboxes, an account rule, a malformed call). An admin's
// switch, a rate limit or a policy that failed to evaluate is no sign of
// a misbehaving agent.
func countsAsRefusal(d policy.Decision) bool {
	switch d.Rule {
	case policy.RuleDeny, policy.RuleNotFound, policy.RuleAccountRule, policy.RuleMalformed:
		return true
	}
	return false
}

// outsideInbox is the inbox outside the token's list that a refused call
// named (the object's inbox, or its inbox_id argument), or 0.
func outsideInbox(c *call) int64 {
	if !c.decision.NotFound || c.p.InboxIDs == nil {
		return 0
	}
	if id := c.target.InboxID; id != 0 && !slices.Contains(c.p.InboxIDs, id) {
		return id
	}
	var id int64
	switch v := c.args["inbox_id"].(type) {
	case float64:
		id = int64(v)
	case int64:
		id = v
	case json.Number:
		id, _ = v.Int64()
	}
	if id > 0 && !slices.Contains(c.p.InboxIDs, id) {
		return id
	}
	return 0
}

// suspend pauses a token whose refusals tripped an anomaly limit, with
// its audit row and the admins' notification (desk.MCPTokenSuspend). It
// reports whether this call paused it; a failure is logged, and the next
// refusal, still over the limit, tries again.
func (s *Server) suspend(ctx context.Context, p *identity.MCPPrincipal, reason, requestID string) bool {
	paused, err := s.cfg.Desk.MCPTokenSuspend(ctx, p.AccountID, p.TokenID, reason, requestID)
	if err != nil {
		slog.ErrorContext(ctx, "token suspend failed", "token_id", p.TokenID, "err", err)
	}
	return paused
}

// refused is a write the policy denied inside its unit of work.
type refused struct{}

func (refused) Error() string { return "denied by the policy" }

// aim sets the policy target of a write from what its unit of work read.
func (c *call) aim(t desk.Target) {
	if cv := t.Conversation; cv != nil {
		c.target.ConversationID, c.target.InboxID, c.target.ContactID = cv.ID, cv.InboxID, cv.ContactID
	}
	if ct := t.Contact; ct != nil {
		c.target.ContactID, c.target.ContactInboxIDs, c.target.ContactCreatedByTokenID = ct.ID, ct.InboxIDs, ct.CreatedByTokenID
	}
	if t.InboxID != 0 {
		c.target.InboxID = t.InboxID
	}
}

// message is the one place that maps errors to tool error text: bad
// arguments and other domain errors by their sentence, anything else as a
// logged internal error that shows no cause.
func (s *Server) message(ctx context.Context, err error) string {
	fe := fault.From(err)
	if fe.Kind == fault.Internal {
		slog.ErrorContext(ctx, "tool failed", "err", err)
	}
	return fe.Sentence
}

func targetKind(e *policy.Engine, name string) string {
	if t, ok := e.Catalog()[name]; ok {
		return t.Target
	}
	return ""
}

func targetIDs(t policy.Target) map[string]int64 {
	m := map[string]int64{}
	for k, v := range map[string]int64{"inbox_id": t.InboxID, "conversation_id": t.ConversationID, "contact_id": t.ContactID, "article_id": t.ArticleID} {
		if v != 0 {
			m[k] = v
		}
	}
	return m
}

// structured returns v as structured content with its JSON as the text
// fallback for clients that read only text. Customer-written text in it is
// wrapped in a boundary (see markUntrusted), whose id _meta carries.
func structured(v any) (*mcpgo.CallToolResult, error) {
	var b []byte
	var marker string
	var err error
	if typed, bound, ok := markTyped(v); ok {
		if b, err = encodeJSON(typed); err != nil {
			return nil, err
		}
		if bound.used {
			marker = bound.id
		}
	} else {
		if b, err = encodeJSON(v); err != nil {
			return nil, err
		}
		if b, marker, err = markUntrusted(b); err != nil {
			return nil, err
		}
	}
	res := mcpgo.NewToolResultStructured(json.RawMessage(b), string(b))
	if marker != "" {
		res.Meta = mcpgo.NewMetaFromMap(map[string]any{MetaUntrustedMarker: marker})
	}
	return res, nil
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
