package tenancy

import (
	"errors"
	"sync/atomic"

	"github.com/deskwoot/deskwoot/auditrow"
	"github.com/deskwoot/deskwoot/fault"
)

// A Request is one request's way into its tenant, as a value the door
// builds and passes down: the account it acts in, the Guard that re-checks
// its principal when the door took that from memory, and the audit row
// that records what it does. Every transaction of the request goes through
// it (Unit, Read, Check):
//
//   - the first one carries the guard, so the request pays no round trip of
//     its own to authenticate, and nothing commits on a stale principal;
//   - the one that does the request's work writes the audit row before its
//     COMMIT, so the work and its record commit together or not at all;
//   - it holds at most one transaction at a time: beginning another while
//     one is open fails at once with ErrNested instead of waiting, so a
//     request can never wait for itself.
//
// A Request is used by one goroutine at a time, in sequence.
type Request struct {
	AccountID int64
	// Guard, when set, re-checks a principal kept in memory in the
	// request's first transaction (see Guard).
	Guard *Guard
	// Audit, when set, is the row that records the request. The work may
	// complete it (Touched: what it created) before it commits; once a
	// transaction has committed it, Audited reports true.
	Audit *auditrow.Entry
	// Member, when set, is the signed-in person the request acts for: each
	// of its units of work holds that person's active membership (see
	// ByMember), so that their change commits before an admin's
	// offboarding of them, or not at all.
	Member int64

	open    atomic.Bool
	audited bool
	// auditID is the id of the row the last committed unit wrote.
	auditID int64
	// snapshot makes the request's Unit a read-only REPEATABLE READ
	// transaction (InTenantSnapshot).
	snapshot bool
}

// For is a request in accountID that has nothing to re-check and records
// nothing: a person's read, a test, an operator command.
func For(accountID int64) *Request { return &Request{AccountID: accountID} }

// Recorded is a request in accountID whose work is audited with e.
func Recorded(accountID int64, e auditrow.Entry) *Request {
	return &Request{AccountID: accountID, Audit: &e}
}

// ByMember is a signed-in person's request in accountID whose work is
// audited with e. Each unit of work it runs first locks the person's
// membership (KEY SHARE, deskwoot_member_hold): an admin deactivating or
// removing them meanwhile waits for the unit to commit, or the unit, once
// the offboarding has committed, fails with ErrMemberEnded before it has
// written anything. The door authenticated the person when the request
// arrived; this closes the gap until the change commits.
func ByMember(accountID, userID int64, e auditrow.Entry) *Request {
	return &Request{AccountID: accountID, Audit: &e, Member: userID}
}

// ErrMemberEnded is a person's unit of work that found their membership
// deactivated or removed since their request was authenticated: it
// changed nothing.
var ErrMemberEnded = fault.New(fault.Unauthenticated, "", "your access to this workspace ended while the request ran (deactivated or removed by an admin); nothing was changed")

// ErrNested is a request beginning a transaction while it holds one: each
// request holds one transaction at a time, and does all the work of a unit
// in the unit's own transaction.
var ErrNested = errors.New("tenancy: the request already holds a transaction; do this work in that transaction")

// Audited reports whether the request's audit row has committed.
func (r *Request) Audited() bool { return r.audited }

// AuditID is the id of the audit row the request's last committed
// transaction wrote, or 0 when none has: what refers to the row later (a
// shadow rule's flip) names it without searching the log.
func (r *Request) AuditID() int64 { return r.auditID }

// Record sets the request's audit row to e, to be written by its next
// transaction (a row already committed stays: this one is another).
func (r *Request) Record(e auditrow.Entry) {
	r.Audit, r.audited = &e, false
}

// begin claims the request's one transaction; end releases it.
func (r *Request) begin() error {
	if r == nil || r.AccountID <= 0 {
		return ErrNoTenant
	}
	if !r.open.CompareAndSwap(false, true) {
		return ErrNested
	}
	return nil
}

func (r *Request) end() { r.open.Store(false) }

// pendingAudit is the row the request's next transaction must write, if
// any.
func (r *Request) pendingAudit() *auditrow.Entry {
	if r.audited {
		return nil
	}
	return r.Audit
}
