package desk_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/tenancy"
)

// rowCounts counts the rows a write can leave behind in one tenant.
func rowCounts(t *testing.T, acct int64) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := dbtest.App(t).InTenant(context.Background(), acct, func(tx pgx.Tx) error {
		for _, table := range []string{"messages", "events", "drafts", "idempotency_keys", "audit_log"} {
			var n int
			if err := tx.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				return err
			}
			out[table] = n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unitWorld is a tenant with one conversation on an api inbox.
func unitWorld(t *testing.T) (*desk.Desk, int64, int64) {
	t.Helper()
	ctx := context.Background()
	d := newDesk(t)
	acct := dbtest.NewTenant(t).Account.ID
	ib, err := d.InboxCreate(ctx, tenancy.For(acct), desk.InboxInput{Name: "Web", Channel: "api"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := d.IncomingMessage(ctx, acct, ib.ID, desk.IncomingInput{Contact: desk.IncomingContact{Email: "ann@example.com"}, Content: "Where is my refund?"})
	if err != nil {
		t.Fatal(err)
	}
	return d, acct, in.ConversationID
}

// TestWriteIsAllOrNothing: when the audit row cannot be written (here a
// NUL byte PostgreSQL refuses, standing in for any failure after the
// effect), the message, its event and the idempotency claim roll back with
// it; the key then acts normally. A failing effect leaves no audit row and
// no claim either.
func TestWriteIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, acct, conv := unitWorld(t)
	by := desk.Author{Kind: "agent", Name: "bot"}
	key := &desk.IdempotencyKey{TokenID: 1, Key: "refund-1", Tool: "reply_to_conversation",
		Fingerprint: desk.Fingerprint("reply_to_conversation", map[string]any{"content": "On its way."}), Expires: time.Now().Add(time.Hour)}
	reply := desk.Reply{ConversationID: conv, Content: "On its way.", By: by}
	before := rowCounts(t, acct)

	_, err := d.Write(ctx, tenancy.Recorded(acct, audit.Entry{ActorKind: "agent", Action: "reply\x00"}), key, reply)
	if err == nil {
		t.Fatal("a write whose audit row fails succeeded")
	}
	if after := rowCounts(t, acct); !maps.Equal(before, after) {
		t.Fatalf("a write whose audit row failed left rows behind: before %v, after %v", before, after)
	}

	_, err = d.Write(ctx, tenancy.Recorded(acct, audit.Entry{ActorKind: "agent", Action: "reply_to_conversation"}), key,
		desk.Reply{ConversationID: 987654321, Content: "On its way.", By: by})
	if !errors.Is(err, desk.ErrNotFound) {
		t.Fatalf("reply to a missing conversation: %v", err)
	}
	if after := rowCounts(t, acct); !maps.Equal(before, after) {
		t.Fatalf("a failed effect left rows behind: before %v, after %v", before, after)
	}

	out, err := d.Write(ctx, tenancy.Recorded(acct, audit.Entry{ActorKind: "agent", Action: "reply_to_conversation"}), key, reply)
	if err != nil {
		t.Fatal(err)
	}
	after := rowCounts(t, acct)
	for table, grew := range map[string]int{"messages": 1, "events": 1, "idempotency_keys": 1, "audit_log": 1} {
		if after[table] != before[table]+grew {
			t.Errorf("%s: %d rows after the reply, want %d", table, after[table], before[table]+grew)
		}
	}
	if m := out.(desk.ReplyResult).Message; m == nil || m.ConversationID != conv || m.DeliveryStatus == nil {
		t.Fatalf("reply result: %+v", out)
	}
}

// TestWriteReplaysAndRefusesReuse: the same key and arguments return the
// first result (as stored: the same JSON value) and act no more, audited as an idempotent
// replay; the same key with other arguments is a conflict that writes
// nothing.
func TestWriteReplaysAndRefusesReuse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, acct, conv := unitWorld(t)
	by := desk.Author{Kind: "agent", Name: "bot"}
	req := func() *tenancy.Request {
		return tenancy.Recorded(acct, audit.Entry{ActorKind: "agent", Action: "add_private_note", Target: map[string]int64{"conversation_id": conv}})
	}
	key := func(content string) *desk.IdempotencyKey {
		return &desk.IdempotencyKey{TokenID: 7, Key: "note-1", Tool: "add_private_note",
			Fingerprint: desk.Fingerprint("add_private_note", map[string]any{"content": content}), Expires: time.Now().Add(time.Hour)}
	}
	first, err := d.Write(ctx, req(), key("seen"), desk.Note{ConversationID: conv, Content: "seen", By: by})
	if err != nil {
		t.Fatal(err)
	}
	firstJSON, _ := json.Marshal(first)
	mid := rowCounts(t, acct)
	again, err := d.Write(ctx, req(), key("seen"), desk.Note{ConversationID: conv, Content: "seen", By: by})
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := again.(json.RawMessage)
	var got, want any
	json.Unmarshal(raw, &got)
	json.Unmarshal(firstJSON, &want)
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("replay returned %T %s, want the first result %s", again, again, firstJSON)
	}
	_, err = d.Write(ctx, req(), key("other"), desk.Note{ConversationID: conv, Content: "other", By: by})
	if fault.KindOf(err) != fault.Conflict {
		t.Fatalf("same key, other arguments: %v, want a conflict", err)
	}
	after := rowCounts(t, acct)
	if after["messages"] != mid["messages"] || after["events"] != mid["events"] || after["audit_log"] != mid["audit_log"]+1 {
		t.Fatalf("replay and conflict: rows %v → %v, want only the replay's audit row", mid, after)
	}
	rows, err := audit.List(ctx, dbtest.App(t), acct, audit.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !slices.Equal(rows[0].Reasons, []string{"idempotent replay"}) || rows[0].Target["conversation_id"] != conv {
		t.Fatalf("replay's audit row: %+v", rows)
	}
}
