package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/tenancy"
)

// tool is one MCP tool as the server registers it (built from a spec):
// its definition, how to parse a call's arguments into its input struct,
// how to load the object it touches (under RLS, before the policy
// decides), and what it does once allowed: run for reads; for writes,
// write builds the desk command that desk.Write runs as one unit of work
// with the idempotency claim and the audit row.
type tool struct {
	def    mcpgo.Tool
	bind   func(args map[string]any) (any, error)
	target func(ctx context.Context, c *call) error
	run    func(ctx context.Context, c *call) (any, error)
	write  func(c *call) (desk.Command, error)
	// keyed tools take a required idempotency_key (their input is keyed).
	keyed bool
	// waits marks a tool that can hold its request open (a long-poll): its
	// decision runs off the request's stack (see onDeepStack).
	waits bool
}

// call is one tools/call in flight.
type call struct {
	p *tenancy.MCPPrincipal
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
	// later, set by a target loader that took the target from memory, reads
	// the answer after the decision; auditIf is then the condition under
	// which the audit row riding with that read is written (see
	// audit.RiderIf).
	later   func(ctx context.Context) (any, error)
	auditIf *auditCondition
}

// auditCondition is an SQL condition on the target, parameters from $14.
type auditCondition struct {
	sql  string
	args []any
}

// scope is what the desk shows this token.
func (c *call) scope() desk.Scope {
	return desk.Scope{InboxIDs: c.p.InboxIDs, TokenID: c.p.TokenID}
}

// wrap turns a tool into an mcp-go handler: rate limit, parse the
// arguments into the tool's input (once; a bad argument is refused before
// anything is read), load the target, ask the policy, run, and audit the
// outcome either way.
func (s *Server) wrap(t tool) func(context.Context, mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		p := principalFrom(ctx)
		if p == nil {
			return mcpgo.NewToolResultError("not authenticated"), nil
		}
		now := s.cfg.Now()
		c := &call{p: p, args: req.GetArguments()}
		if c.args == nil {
			c.args = map[string]any{}
		}
		entry := audit.Entry{ActorKind: "agent", ActorID: p.ServiceUserID, TokenID: p.TokenID, ClientID: p.ClientID, Action: t.def.Name,
			ArgsDigest: audit.DigestArgs(c.args), PolicyRev: s.cfg.Policy.Revision(), RequestID: requestIDFrom(ctx)}
		start := time.Now()
		var inPolicy time.Duration
		if s.cfg.Observer != nil {
			defer func() { s.cfg.Observer.ToolCall(t.def.Name, entry.Decision, time.Since(start), inPolicy) }()
		}
		fail := func(decision string, msg string) (*mcpgo.CallToolResult, error) {
			entry.Decision, entry.Reasons, entry.Target = decision, []string{msg}, targetIDs(c.target)
			s.record(ctx, p.AccountID, entry)
			return mcpgo.NewToolResultError(msg), nil
		}
		if wait := p.RateRetryAfter; wait > 0 {
			return fail("deny", fmt.Sprintf("rate limit of %d calls per minute exceeded; retry in %d seconds", p.RateLimitPerMinute, int(math.Ceil(wait.Seconds()))))
		}
		var err error
		if c.in, err = t.bind(c.args); err != nil {
			return fail("error", s.message(ctx, err))
		}
		c.target.Kind = targetKind(s.cfg.Policy, t.def.Name)
		if t.target != nil {
			if err := t.target(ctx, c); err != nil {
				return fail("error", s.message(ctx, err))
			}
		}
		decideStart := time.Now()
		in := policy.Input{Principal: principalInput(p), Account: accountInput(p.Account),
			Tool: t.def.Name, Args: c.args, Target: c.target, Now: now}
		d, err := s.decide(ctx, p, in, t.waits)
		inPolicy = time.Since(decideStart)
		if err != nil {
			slog.ErrorContext(ctx, "policy decision failed", "tool", t.def.Name, "err", err)
		}
		entry.Explanation = policy.Explain(in, d, entry.ArgsDigest, err)
		c.decision = d
		if !d.Allow {
			return fail("deny", strings.Join(d.Reasons, "; "))
		}
		if t.write != nil {
			out, err := s.write(ctx, t, c, entry, now)
			if err != nil {
				return fail("error", s.message(ctx, err))
			}
			s.cfg.Audit.Touch(p.AccountID)
			return structured(out)
		}
		// The audit row of an allowed read rides in the read's own batch:
		// one round trip, and it commits with the read. A read that makes no
		// tenant batch (its answer came with the target) records it here.
		entry.Decision, entry.Target = "allow", targetIDs(c.target)
		rider := audit.Rider(p.AccountID, entry)
		if c.auditIf != nil {
			rider = audit.RiderIf(p.AccountID, entry, c.auditIf.sql, c.auditIf.args...)
		}
		out, err := t.run(tenancy.WithRider(ctx, rider), c)
		if err != nil {
			return fail("error", s.message(ctx, err))
		}
		if rider.Rode() {
			s.cfg.Audit.Touch(p.AccountID)
		} else {
			s.record(ctx, p.AccountID, entry)
		}
		return structured(out)
	}
}

// write runs a write tool as one unit of work in the desk: the
// idempotency claim, the effect and the audit row commit together, or none
// of them does (desk.Write).
func (s *Server) write(ctx context.Context, t tool, c *call, entry audit.Entry, now time.Time) (any, error) {
	p := desk.WriteParams{AccountID: c.p.AccountID, Audit: entry}
	if t.keyed {
		p.Key = &desk.IdempotencyKey{TokenID: c.p.TokenID, Key: c.in.(keyed).idempotencyKey(), Tool: t.def.Name,
			Fingerprint: desk.Fingerprint(t.def.Name, c.args), Expires: now.Add(s.cfg.IdempotencyTTL)}
	}
	cmd, err := t.write(c)
	if err != nil {
		return nil, err
	}
	p.Audit.Target = targetIDs(c.target)
	out, err := s.cfg.Desk.Write(ctx, p, cmd)
	if fault.KindOf(err) == fault.NotFound && c.target.ConversationID != 0 {
		s.hints.drop(c.p.AccountID, c.target.ConversationID) // perhaps deleted: read it afresh next time
	}
	return out, err
}

func (s *Server) record(ctx context.Context, acct int64, e audit.Entry) {
	if err := s.cfg.Audit.Record(ctx, acct, e); err != nil && !tenancy.GuardRefused(err) {
		slog.ErrorContext(ctx, "audit write failed", "action", e.Action, "err", err)
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
