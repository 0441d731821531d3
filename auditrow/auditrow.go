// Package auditrow is the audit row a request writes: who acted, what they
// asked, the decision and what it touched, and the one INSERT that stores
// it. It sits below tenancy so that a request (tenancy.Request) can carry
// its row into the unit of work that commits it with the change it records;
// package audit reads, seals, verifies and exports the rows.
package auditrow

import "github.com/jackc/pgx/v5"

// Entry is one audited action.
type Entry struct {
	ActorKind  string           // user, agent, system, operator
	ActorID    int64            // the user or service account
	TokenID    int64            // the MCP token, when any
	Action     string           // tool name or action name
	Decision   string           // allow, deny, error
	Reasons    []string         // why, for deny and error
	Target     map[string]int64 // inbox_id, conversation_id, contact_id…
	ArgsDigest string           // sha256 of the canonical arguments
	PolicyRev  string
	RequestID  string
	ClientID   string // the OAuth client, when the token is an OAuth grant
	// Explanation is the policy decision the row records, as
	// policy.Explain builds it (redacted input, result, rule); nil when
	// the row records no policy decision.
	Explanation []byte
}

// Touched adds the id of an object the action touched (or created) to the
// row's target. On a nil entry (a request that records nothing) it does
// nothing, so a write can name what it made whoever called it.
func (e *Entry) Touched(name string, id int64) {
	if e == nil {
		return
	}
	if e.Target == nil {
		e.Target = map[string]int64{}
	}
	e.Target[name] = id
}

// QueueID adds the entry's INSERT to b, a batch sent inside the transaction
// of the action it records, so the row commits or rolls back with it; the
// row's id is stored in id once the batch has run (it stays 0 when the row
// was not written).
func QueueID(b *pgx.Batch, acct int64, e Entry, id *int64) {
	b.Queue(InsertSQL+" RETURNING id", e.Args(acct)...).QueryRow(func(r pgx.Row) error { return r.Scan(id) })
}

// InsertSQL is the statement that stores an entry, with Args as its
// parameters.
const InsertSQL = `INSERT INTO audit_log (account_id, actor_kind, actor_id, token_id, action, decision, reasons, target, args_digest, policy_rev, request_id, client_id, explanation)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`

// Args are InsertSQL's parameters for the entry in account acct.
func (e Entry) Args(acct int64) []any {
	reasons := e.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	target := e.Target
	if target == nil {
		target = map[string]int64{}
	}
	var explanation any
	if len(e.Explanation) > 0 {
		explanation = string(e.Explanation)
	}
	decision := e.Decision
	if decision == "" {
		decision = "allow"
	}
	return []any{acct, e.ActorKind, nullID(e.ActorID), nullID(e.TokenID), e.Action, decision, reasons, target, e.ArgsDigest, e.PolicyRev, e.RequestID, e.ClientID, explanation}
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
