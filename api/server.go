// Package api is the REST door for humans and integrations (gorilla/mux).
// Handlers are thin: decode, authorize, call one domain function, encode.
package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/billing"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/shadow"
	"github.com/deskwoot/deskwoot/signup"
	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/tenantpolicy"
	"github.com/deskwoot/deskwoot/throttle"
)

// Config is what the REST server needs.
type Config struct {
	DB         *tenancy.DB
	Identities *identity.Identities
	Desk       *desk.Desk
	Policy     *policy.Engine
	Audit      *audit.Log
	// Billing is Stripe Checkout, portal and webhooks; nil when billing is
	// not configured (its endpoints then answer 503).
	Billing *billing.Service
	// PublicURL is the base URL shown for the MCP endpoint.
	PublicURL string
	// Now is the clock (tests move it); time.Now when nil.
	Now func() time.Time
	// Throttle holds the per-address abuse limits (sign-in, signup); share
	// it with the other doors (console, MCP). A fresh one when nil.
	Throttle *throttle.Guard
	// Replays runs candidates' replays past their inline budget in the
	// background; a fresh one when nil (close it when the server stops).
	Replays *tenantpolicy.Replays
	// Shadows is the replica's shadow recorder (package shadow), told when
	// a shadow starts or ends; may be nil.
	Shadows *shadow.Recorder
	// Signup, when set, makes new logins email-confirmed
	// (DESKWOOT_SIGNUP=confirm): signup mails a link and POST /users
	// mails an invitation, each answering every address alike. Nil keeps
	// both immediate.
	Signup *signup.Confirmer
}

// Server serves /api/v1.
type Server struct {
	cfg Config
	// candidates limits policy candidate submissions per account: each one
	// compiles, tests and replays an account's Rego in its sandbox.
	candidates *throttle.Throttle
}

// Candidate submissions per account: a burst of CandidatesPerMinute, then
// one every 60/CandidatesPerMinute seconds.
const CandidatesPerMinute = 10

// New builds the REST server.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Throttle == nil {
		cfg.Throttle = throttle.NewGuard(throttle.Limits{})
	}
	if cfg.Replays == nil {
		cfg.Replays = tenantpolicy.NewReplays(cfg.DB)
	}
	return &Server{cfg: cfg, candidates: throttle.New(time.Minute/CandidatesPerMinute, CandidatesPerMinute)}
}

type ctxKey struct{}

// principal is the authenticated human behind a request.
func principal(r *http.Request) identity.UserPrincipal {
	p, _ := r.Context().Value(ctxKey{}).(identity.UserPrincipal)
	return p
}

// authenticated requires a user API token.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := bearer(r)
		if !ok {
			writeError(w, r, errorf(http.StatusUnauthorized, "unauthorized", "missing bearer token; send Authorization: Bearer dw_usr_…"))
			return
		}
		p, err := identity.AuthenticateUser(r.Context(), s.cfg.DB, raw)
		if err != nil {
			writeError(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	}
}

// admin requires an admin's user API token.
func (s *Server) admin(next http.HandlerFunc) http.HandlerFunc {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request) {
		if principal(r).Role != "admin" {
			writeError(w, r, errorf(http.StatusForbidden, "forbidden", "only account admins may do this"))
			return
		}
		next(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !equalFold(h[:len(p)], p) {
		return "", false
	}
	return h[len(p):], true
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// request is the person's request as the desk takes it: their account,
// nothing to re-check (the token was checked now), no audit row (a read).
func (s *Server) request(r *http.Request) *tenancy.Request {
	return tenancy.For(principal(r).AccountID)
}

// recorded is the person's request with e, the audit row of the change it
// makes, the person as its actor: the change and its row commit together
// in the unit of work that makes it (tenancy.Unit), or neither does.
func (s *Server) recorded(r *http.Request, e audit.Entry) *tenancy.Request {
	p := principal(r)
	e.ActorKind, e.ActorID = "user", p.UserID
	return tenancy.ByMember(p.AccountID, p.UserID, e)
}

// pathID reads a positive integer path variable.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(mux.Vars(r)[name], 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusNotFound, "not_found", "%s %q not found", name, mux.Vars(r)[name])
	}
	return id, nil
}

// queryInt reads an optional integer query parameter.
func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "bad_request", "%s must be a non-negative integer", name)
	}
	return n, nil
}

// scopeFor is what a human sees: admins every inbox, agents their inboxes.
func (s *Server) scopeFor(r *http.Request) (desk.Scope, error) {
	p := principal(r)
	return s.cfg.Desk.PersonScope(r.Context(), p.AccountID, p.UserID, p.Role)
}
