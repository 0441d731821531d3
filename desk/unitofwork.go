package desk

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// One unit of work for every write a door makes on behalf of an agent or a
// person: the idempotency claim, the effect with its events and outbox
// jobs, and the audit row that records it commit in one transaction, or
// none of them does. The doors decode and authorize, then call Write (the
// MCP door, with its request: tenancy.Request carries the account, the
// guard of a principal kept in memory and the audit row) or a person's
// write such as PersonMessage (REST and the console), which run here; no
// door holds a transaction or SQL.
//
// Round trips are what a write costs (issue 12). A unit's transaction
// (tenancy.Unit) begins in the round trip that claims the idempotency key
// and looks up a prior result, and commits in the round trip that carries
// the statements whose answers nobody reads: events, the idempotency
// result, the audit row, River's wake-up. Only statements whose answers
// the effect needs travel on their own.

// DefaultIdempotencyTTL is how long a key remembers its first result.
const DefaultIdempotencyTTL = 24 * time.Hour

// IdempotencyKey makes a write happen at most once per token and key.
type IdempotencyKey struct {
	TokenID int64
	Key     string
	// Tool and Fingerprint (see Fingerprint) identify the action and its
	// arguments: the same key with any other action is a conflict.
	Tool        string
	Fingerprint string
	// Expires is when the key is forgotten and may act again.
	Expires time.Time
}

// Command is one write of the desk (Reply, Note, ContactNew…). Doors build
// commands from their decoded input; only Write runs them.
type Command interface {
	run(ctx context.Context, u *unit) (any, error)
}

// Write runs cmd as the request's unit of work (see the top of this file)
// and returns its result: a value of the command's result type, or on an
// idempotent replay the first result's JSON as it was stored
// (json.RawMessage). The request's audit row records the write: Write adds
// to its target the ids of what the write created (a contact, a
// conversation). key, when set, makes the write idempotent: a repeat with
// the same key and arguments returns the first result, acts no more, and
// is audited as an "idempotent replay"; with other arguments it is a
// conflict.
func (d *Desk) Write(ctx context.Context, req *tenancy.Request, key *IdempotencyKey, cmd Command) (any, error) {
	return d.unitOfWork(ctx, req, key, nil, func() (effect, error) { return cmd.run, nil })
}

// TargetRef names what a write touches, for the door to decide on: a
// conversation, a contact, an inbox (0: none).
type TargetRef struct {
	ConversationID, ContactID, InboxID int64
}

// Target is what a write touches, as read inside its unit of work: the
// parts its TargetRef named (nil, or 0 for the inbox, otherwise).
type Target struct {
	Conversation *ConversationTarget
	Contact      *ContactTarget
	InboxID      int64
}

// WriteDecided is Write for a door that decides on what the write touches:
// the write reads ref's objects in the round trip that begins its unit of
// work (with the request's guard and the idempotency claim), and decide,
// given them, names the command, or refuses (its error rolls the unit back
// and is returned as it is). An object ref names that is not there is not
// found, before decide runs. A repeat under the same idempotency key is
// decided too, before it replays.
func (d *Desk) WriteDecided(ctx context.Context, req *tenancy.Request, key *IdempotencyKey, ref TargetRef, decide func(Target) (Command, error)) (any, error) {
	var t Target
	look := &pgx.Batch{}
	t.queue(look, ref)
	return d.unitOfWork(ctx, req, key, look, func() (effect, error) {
		cmd, err := decide(t)
		if err != nil {
			return nil, err
		}
		return cmd.run, nil
	})
}

// queue adds the reads of what ref names to b; a missing object fails the
// batch as not found.
func (t *Target) queue(b *pgx.Batch, ref TargetRef) {
	if id := ref.ConversationID; id != 0 {
		t.Conversation = &ConversationTarget{}
		b.Queue(conversationTargetSQL, id).QueryRow(func(r pgx.Row) error {
			return withKind(r.Scan(&t.Conversation.ID, &t.Conversation.InboxID, &t.Conversation.ContactID), "conversation", id)
		})
	}
	if id := ref.ContactID; id != 0 {
		t.Contact = &ContactTarget{}
		b.Queue(contactTargetSQL, id).QueryRow(func(r pgx.Row) error {
			return withKind(r.Scan(&t.Contact.ID, &t.Contact.InboxIDs, &t.Contact.CreatedByTokenID), "contact", id)
		})
	}
	if id := ref.InboxID; id != 0 {
		b.Queue(`SELECT id FROM inboxes WHERE id = $1`, id).QueryRow(func(r pgx.Row) error {
			return withKind(r.Scan(&t.InboxID), "inbox", id)
		})
	}
}

// effect is what a unit of work does, in its transaction.
type effect func(ctx context.Context, u *unit) (any, error)

// unit is a write in progress: its transaction, the statements held back
// for the final batch, and its audit row (nil when the request records
// nothing).
type unit struct {
	d     *Desk
	tx    pgx.Tx
	acct  int64
	audit *audit.Entry
	tail  pgx.Batch
}

// Exec holds a statement whose answer nobody reads (an event, River's
// notification) for the unit's final batch, where it runs before the
// audit row and COMMIT. Its error, if any, rolls the whole unit back.
func (u *unit) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	u.tail.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

// heldExecs is a unit's transaction as the outbox sees it: queries run at
// once, and Exec statements (River's NOTIFY that wakes the workers, whose
// command tag River ignores) wait for the unit's final batch, which saves
// a reply a round trip.
type heldExecs struct {
	pgx.Tx
	u *unit
}

func (h heldExecs) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return h.u.Exec(ctx, sql, args...)
}

// outboxTx is the transaction to enqueue deliveries in: tx itself, or
// within a unit of work (later is the unit) one whose Exec statements the
// unit holds back.
func outboxTx(tx pgx.Tx, later execer) pgx.Tx {
	if u, ok := later.(*unit); ok {
		return heldExecs{Tx: tx, u: u}
	}
	return tx
}

// created adds the id of something the write created to its audit target.
func (u *unit) created(name string, id int64) {
	u.audit.Touched(name, id)
}

// unitOfWork runs the request's unit of work: look's reads and the claim
// of key go in the round trip that begins it; plan, once they are in,
// names the effect (or refuses: the unit rolls back); the claim decides
// whether the effect runs (a replay returns the first result instead); the
// request's audit row commits after it.
func (d *Desk) unitOfWork(ctx context.Context, req *tenancy.Request, key *IdempotencyKey, look *pgx.Batch, plan func() (effect, error)) (any, error) {
	if req.Audit != nil {
		// The row is the request's own from here: what the write adds to
		// its target is not added to the caller's map.
		req.Audit.Target = maps.Clone(req.Audit.Target)
	}
	u := &unit{d: d, acct: req.AccountID, audit: req.Audit}
	first := look
	var c *claim
	if key != nil {
		if first == nil {
			first = &pgx.Batch{}
		}
		c = &claim{key: *key}
		c.queue(first, req.AccountID)
	}
	var out any
	err := d.DB.Unit(ctx, req, first, func(tx pgx.Tx) (*pgx.Batch, error) {
		u.tx = tx
		run, err := plan()
		if err != nil {
			return nil, err
		}
		if c != nil {
			if err := c.check(); err != nil {
				return nil, err
			}
			if !c.fresh {
				out = c.prior
				if u.audit != nil {
					u.audit.Reasons = []string{"idempotent replay"}
				}
				return &u.tail, nil
			}
			if rand.IntN(100) == 0 { // now and then, so the table stays as small as the window
				u.tail.Queue(`DELETE FROM idempotency_keys WHERE token_id = $1 AND expires_at < now()`, c.key.TokenID)
			}
		}
		res, err := run(ctx, u)
		if err != nil {
			return nil, err
		}
		out = res
		if c != nil {
			b, err := json.Marshal(res)
			if err != nil {
				return nil, err
			}
			u.tail.Queue(`UPDATE idempotency_keys SET result = $3 WHERE token_id = $1 AND key = $2`, c.key.TokenID, c.key.Key, b)
		}
		return &u.tail, nil // tenancy.Unit adds the audit row, then COMMIT
	})
	return out, err
}

// claim is the claim of an idempotency key. fresh means this call owns
// the key and performs the effect. Otherwise the key was used before:
// prior is its first result, or check reports a conflict when the action
// or arguments differ. The primary key decides between concurrent callers:
// a second INSERT waits for the first transaction and then finds its row
// (the look-up, a statement of its own, reads it committed), so exactly
// one effect happens. An expired key is taken over. The claim and the
// look-up ride in the round trip that begins the unit's transaction.
type claim struct {
	key              IdempotencyKey
	fresh            bool
	prior            json.RawMessage
	usedTool, usedFP string
}

func (c *claim) queue(b *pgx.Batch, acct int64) {
	k := c.key
	b.Queue(`INSERT INTO idempotency_keys (account_id, token_id, key, tool, fingerprint, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account_id, token_id, key) DO UPDATE
			SET tool = excluded.tool, fingerprint = excluded.fingerprint, result = NULL, created_at = now(), expires_at = excluded.expires_at
			WHERE idempotency_keys.expires_at < now()
		RETURNING true`, acct, k.TokenID, k.Key, k.Tool, k.Fingerprint, k.Expires).QueryRow(func(r pgx.Row) error {
		err := r.Scan(&c.fresh)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	b.Queue(`SELECT tool, fingerprint, result FROM idempotency_keys WHERE token_id = $1 AND key = $2`, k.TokenID, k.Key).
		QueryRow(func(r pgx.Row) error { return r.Scan(&c.usedTool, &c.usedFP, &c.prior) })
}

// check is the conflict of a key used before with another action.
func (c *claim) check() error {
	if !c.fresh && (c.usedTool != c.key.Tool || c.usedFP != c.key.Fingerprint) {
		return fault.Conflictf("idempotency_key", "idempotency_key %q was already used with other arguments (tool %s); send a new key for a new action", c.key.Key, c.usedTool)
	}
	return nil
}

// Fingerprint identifies a call's tool and arguments, without the
// idempotency key itself.
func Fingerprint(tool string, args map[string]any) string {
	rest := make(map[string]any, len(args))
	for k, v := range args {
		if k != "idempotency_key" {
			rest[k] = v
		}
	}
	return audit.DigestArgs([]any{tool, rest}) // Go sorts map keys: canonical
}
