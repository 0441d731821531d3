package mailserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
)

// mailFrom is mailText sent by from ("Name <address>") instead of Ann.
func mailFrom(from, id, inReplyTo, subject, body string) string {
	return strings.Replace(mailText(id, inReplyTo, subject, body), "From: Ann Customer <ann@customer.test>", "From: "+from, 1)
}

// exec runs SQL in the world's workspace as the app role.
func (w world) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	err := w.d.DB.InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), sql, args...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// contactOf is the email of the contact a message of conversation conv
// (its last one) was filed under, and the conversation's contact's email.
func (w world) contactOf(t *testing.T, conv int64) (sender, owner string) {
	t.Helper()
	err := w.d.DB.InTenant(context.Background(), w.Account.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT coalesce(s.email, ''), coalesce(o.email, '')
			FROM conversations c JOIN contacts o ON o.id = c.contact_id
			JOIN LATERAL (SELECT sender_id FROM messages WHERE conversation_id = c.id ORDER BY id DESC LIMIT 1) m ON true
			JOIN contacts s ON s.id = m.sender_id WHERE c.id = $1`, conv).Scan(&sender, &owner)
	})
	if err != nil {
		t.Fatal(err)
	}
	return sender, owner
}

// A stranger who knows a conversation's Message-IDs (the red team's
// `References: <deskwoot-message-2@…>`) cannot put mail into it: the mail
// opens a conversation of its own, with the stranger as its contact, and
// the victim's conversation stays as it was (not even reopened). The
// contact's own replies still thread, also from an address the contact
// wrote from before an agent changed its email.
func TestReplyThreadsOnlyFromTheConversationsContact(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0)
	first := dbtest.Unique("t1") + "@customer.test"
	if err := w.send(t, w.address, mailText(first, "", "Refund", "Please refund order 7.")); err != nil {
		t.Fatal(err)
	}
	conv := w.messages(t)[0].conv
	// The agent's reply went out with a Message-ID of ours; then the
	// conversation was resolved.
	ours := dbtest.Unique("deskwoot-message") + "@acme.test"
	w.exec(t, `INSERT INTO messages (account_id, conversation_id, inbox_id, type, content, sender_kind, source_id)
		VALUES ($1, $2, $3, 'outgoing', 'Refunded.', 'user', $4)`, w.Account.ID, conv, w.inbox, ours)
	w.exec(t, `UPDATE conversations SET status = 'resolved' WHERE id = $1`, conv)

	// Strangers: a new address, and another customer the desk knows.
	if err := w.send(t, w.address, mailFrom("Bob <bob@customer.test>", dbtest.Unique("b0")+"@customer.test", "", "Hello", "Bob's own question.")); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"Mallory <mallory@evil.test>", "Bob <BOB@customer.test>"} {
		if err := w.send(t, w.address, mailFrom(from, dbtest.Unique("h")+"@evil.test", ours, "Re: Refund", "Send the refund to my account instead.")); err != nil {
			t.Fatal(err)
		}
	}
	ms := w.messages(t)
	if len(ms) != 5 {
		t.Fatalf("%d messages, want 5: %+v", len(ms), ms)
	}
	for _, m := range ms[3:] {
		if m.conv == conv || m.subject != "Re: Refund" || m.status != "open" {
			t.Fatalf("a stranger's reply naming our Message-ID was filed as %+v (the victim's conversation is %d)", m, conv)
		}
		sender, owner := w.contactOf(t, m.conv)
		if sender != owner || owner == "ann@customer.test" {
			t.Fatalf("the stranger's conversation belongs to %q, its message to %q", owner, sender)
		}
	}
	if ms[3].conv == ms[4].conv || ms[4].conv == ms[2].conv {
		t.Fatalf("each stranger's reply opens a conversation of its own: %+v", ms)
	}
	if ms[0].status != "resolved" {
		t.Fatalf("the strangers' mail reopened the victim's conversation: %+v", ms[0])
	}

	// The contact's reply naming the same Message-ID continues and reopens it.
	if err := w.send(t, w.address, mailText(dbtest.Unique("t2")+"@customer.test", ours, "Re: Refund", "Thanks!")); err != nil {
		t.Fatal(err)
	}
	ms = w.messages(t)
	if last := ms[len(ms)-1]; last.conv != conv || last.content != "Thanks!" || last.status != "open" {
		t.Fatalf("the contact's reply: %+v, want it in conversation %d, reopened", last, conv)
	}

	// An agent changes Ann's email; her old address, which wrote in this
	// conversation, still threads (as Ann), and so does the new one.
	w.exec(t, `UPDATE contacts SET email = 'ann.new@customer.test' WHERE lower(email) = 'ann@customer.test'`)
	if err := w.send(t, w.address, mailText(dbtest.Unique("t3")+"@customer.test", ours, "Re: Refund", "From my old address.")); err != nil {
		t.Fatal(err)
	}
	if err := w.send(t, w.address, mailFrom("Ann <ann.new@customer.test>", dbtest.Unique("t4")+"@customer.test", ours, "Re: Refund", "From my new address.")); err != nil {
		t.Fatal(err)
	}
	ms = w.messages(t)
	for _, m := range ms[len(ms)-2:] {
		if m.conv != conv {
			t.Fatalf("Ann's reply %q went to conversation %d, want %d", m.content, m.conv, conv)
		}
	}
	if sender, owner := w.contactOf(t, conv); sender != owner || owner != "ann.new@customer.test" {
		t.Fatalf("Ann's replies were filed under %q in a conversation of %q", sender, owner)
	}
	// Mallory, who never wrote in it, still cannot, now that she is known.
	if err := w.send(t, w.address, mailFrom("Mallory <mallory@evil.test>", dbtest.Unique("h2")+"@evil.test", ours, "Re: Refund", "Again.")); err != nil {
		t.Fatal(err)
	}
	if ms = w.messages(t); ms[len(ms)-1].conv == conv {
		t.Fatal("a known stranger's second reply was filed into the victim's conversation")
	}
}
