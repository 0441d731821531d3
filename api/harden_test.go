package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
)

// within fails the test when fn does not return in d: a request that never
// returns is a defect of its own.
func within[T any](t *testing.T, d time.Duration, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("no answer within %s", d)
		panic("unreachable")
	}
}

// An incoming message whose contact has a new identifier and the email of
// a known contact used to retry forever. Now the identifier is attached to
// that contact; with the email of a contact that has another identifier it
// is a conflict in words.
func TestIncomingIdentifierWithKnownEmail(t *testing.T) {
	t.Parallel()
	a := signup(t)
	ib := createInbox(t, a.Token)
	email := uniqueEmail()
	first := want(t, incoming(t, a.Token, ib, email, "hello", dbtest.Unique("s")), 201)
	post := func(ident string) resp {
		return within(t, 10*time.Second, func() resp {
			return call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/messages", ib), a.Token,
				obj{"contact": obj{"email": email, "identifier": ident}, "content": "again", "source_id": dbtest.Unique("s")})
		})
	}
	b := want(t, post("crm-1"), 201)
	if id(t, b["contact_id"]) != id(t, first["contact_id"]) {
		t.Fatalf("identifier went to contact %v, want the known contact %v", b["contact_id"], first["contact_id"])
	}
	// The identifier alone now finds the same contact.
	b = want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/messages", ib), a.Token,
		obj{"contact": obj{"identifier": "crm-1"}, "content": "by id", "source_id": dbtest.Unique("s")}), 201)
	if id(t, b["contact_id"]) != id(t, first["contact_id"]) {
		t.Fatalf("identifier found contact %v, want %v", b["contact_id"], first["contact_id"])
	}
	msg := wantErr(t, post("crm-2"), 409, "conflict")
	if !strings.Contains(msg, email) || !strings.Contains(msg, "different identifier") {
		t.Errorf("conflict says %q", msg)
	}
}

// Conflicts say in words what collided and never name a constraint.
func TestConflictsInWords(t *testing.T) {
	t.Parallel()
	a := signup(t)
	want(t, call(t, "POST", "/api/v1/labels", a.Token, obj{"name": "billing"}), 201)
	want(t, call(t, "POST", "/api/v1/teams", a.Token, obj{"name": "Tier 2"}), 201)
	for _, c := range []struct {
		token, path string
		body        obj
		words       string
	}{
		{a.Token, "/api/v1/labels", obj{"name": "billing"}, `a label named "billing" already exists`},
		{a.Token, "/api/v1/teams", obj{"name": "tier 2"}, `a team named "tier 2" already exists`},
		{a.Token, "/api/v1/users", obj{"email": a.Email, "password": "agent password 1"}, "a user with email " + a.Email + " already exists"},
	} {
		msg := wantErr(t, call(t, "POST", c.path, c.token, c.body), 409, "conflict")
		if !strings.Contains(msg, c.words) || strings.Contains(msg, "_key") || strings.Contains(msg, "in_use") {
			t.Errorf("POST %s: conflict says %q, want %q", c.path, msg, c.words)
		}
	}
}

// A human agent posts customer messages only into inboxes they are a
// member of; admins into any.
func TestIncomingNeedsInboxMembership(t *testing.T) {
	t.Parallel()
	a := signup(t)
	mine, other := createInbox(t, a.Token), createInbox(t, a.Token)
	agentID, agent := createAgent(t, a.Token)
	want(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/members", mine), a.Token, obj{"user_id": agentID}), 200)
	want(t, incoming(t, agent, mine, uniqueEmail(), "hi", dbtest.Unique("s")), 201)
	msg := wantErr(t, incoming(t, agent, other, uniqueEmail(), "hi", dbtest.Unique("s")), 404, "not_found")
	if want := fmt.Sprintf("inbox %d not found", other); msg != want {
		t.Errorf("message %q, want %q (the same as for an inbox that does not exist)", msg, want)
	}
	want(t, incoming(t, a.Token, other, uniqueEmail(), "hi", dbtest.Unique("s")), 201)
	if got := conversationIDs(t, a.Token, fmt.Sprintf("?inbox_id=%d", other)); len(got) != 1 {
		t.Errorf("inbox %d holds %d conversations, want only the admin's", other, len(got))
	}
}
