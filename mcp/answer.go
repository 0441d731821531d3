package mcp

import (
	"context"
	"net/http"
	"sync/atomic"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// answer is the response writer mcp-go answers a POST through. What mcp-go
// writes goes straight out — nothing is held back — but before its first
// byte the request must have settled:
//
//   - a request whose guard no transaction carried (mcp-go answered a call
//     itself, before any tool ran: a malformed call) checks it now;
//   - a request refused on the way (its token revoked, its account closed
//     since its principal was kept; see request.refusal) is answered with
//     that refusal, and what mcp-go wrote is dropped. The refusal is only
//     ever set before the request has done anything.
type answer struct {
	w      http.ResponseWriter
	s      *Server
	ctx    context.Context
	req    *request
	header http.Header
	// decided: the request has settled and the first byte is out;
	// dropped: that byte was the refusal's.
	decided, dropped bool
	// splice is the result of the request's single tools/call, encoded by
	// the door, for mcp-go's answer to carry in place of its stand-in (see
	// encodeOnce); atomic, since mcp-go may write notifications from a
	// goroutine of its own while the call runs.
	splice atomic.Pointer[splice]
}

func newAnswer(ctx context.Context, s *Server, w http.ResponseWriter, req *request) *answer {
	return &answer{w: w, s: s, ctx: ctx, req: req, header: http.Header{}}
}

// Header is mcp-go's own until its answer goes out: a refusal does not
// carry mcp-go's headers.
func (a *answer) Header() http.Header { return a.header }

func (a *answer) decide() {
	if a.decided {
		return
	}
	a.decided = true
	if a.req.refusal == nil && a.req.guarded() {
		a.s.settle(a.ctx, a.req)
	}
	if a.req.refusal != nil {
		a.req.refusal(a.w)
		a.dropped = true
		return
	}
	for k, v := range a.header {
		a.w.Header()[k] = v
	}
	rateHeaders(a.w.Header(), a.req.quota())
}

func (a *answer) WriteHeader(status int) {
	if a.decide(); !a.dropped {
		a.w.WriteHeader(status)
	}
}

func (a *answer) Write(b []byte) (int, error) {
	if a.decide(); a.dropped {
		return len(b), nil
	}
	if sp := a.splice.Load(); sp != nil {
		if done, err := sp.write(a.w, b); done {
			a.splice.Store(nil)
			return len(b), err
		}
	}
	return a.w.Write(b)
}

// encodeOnce has the door encode the result of the request's single
// tools/call, and returns the stand-in mcp-go answers with (see
// encodeOnce).
func (a *answer) encodeOnce(res *mcpgo.CallToolResult) *mcpgo.CallToolResult {
	standIn, sp := encodeOnce(res)
	if sp != nil {
		a.splice.Store(sp)
	}
	return standIn
}

// Flush lets mcp-go stream (its SSE answers) once the request has settled.
func (a *answer) Flush() {
	if a.decide(); !a.dropped {
		if f, ok := a.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// Unwrap is for http.ResponseController (write deadlines).
func (a *answer) Unwrap() http.ResponseWriter { return a.w }
