package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestInboundAddressIsAssigned: an email inbox's receiving address comes
// from Deskwoot, is shown to admins with forwarding instructions, cannot be
// chosen or changed by a request (400, nothing written), and rotates.
func TestInboundAddressIsAssigned(t *testing.T) {
	t.Parallel()
	a := signup(t)
	inboxes := func(token string) []obj {
		return list(t, want(t, call(t, "GET", "/api/v1/inboxes", token, nil), 200), "inboxes")
	}
	for _, body := range []obj{
		{"name": "Mail", "channel": "email", "settings": obj{"from_address": "support@acme.test", "inbound_address": "support@acme.test"}},
		{"name": "Mail", "channel": "email", "settings": obj{"inbound_address": nil}},
		{"name": "Mail", "channel": "email", "inbound_address": "anything@" + testInboundDomain},
	} {
		msg := wantErr(t, call(t, "POST", "/api/v1/inboxes", a.Token, body), 400, "bad_request")
		if !strings.Contains(msg, "assigned by Deskwoot") || !strings.Contains(msg, "forward") {
			t.Errorf("create with %v: %q", body, msg)
		}
	}
	if n := len(inboxes(a.Token)); n != 0 {
		t.Fatalf("%d inboxes after refused creates", n)
	}

	b := want(t, call(t, "POST", "/api/v1/inboxes", a.Token, obj{"name": "Mail", "channel": "email", "settings": obj{"from_address": "support@acme.test"}}), 201)
	ib := id(t, b["id"])
	addr := str(t, b["inbound_address"])
	local, domain, _ := strings.Cut(addr, "@")
	if domain != testInboundDomain || len(local) < 32 {
		t.Fatalf("assigned address %q, want an unguessable one under %s", addr, testInboundDomain)
	}
	instr := str(t, b["forwarding_instructions"])
	if !strings.Contains(instr, addr) || !strings.Contains(instr, "support@acme.test") {
		t.Fatalf("forwarding instructions %q should name %s and support@acme.test", instr, addr)
	}
	if s := b["settings"].(obj); s["inbound_address"] != nil || s["from_address"] != "support@acme.test" {
		t.Fatalf("settings %v", s)
	}
	listed := inboxes(a.Token)
	if len(listed) != 1 || listed[0]["inbound_address"] != addr || listed[0]["forwarding_instructions"] != instr {
		t.Fatalf("GET /inboxes shows %v", listed)
	}

	path := fmt.Sprintf("/api/v1/inboxes/%d", ib)
	for _, body := range []obj{
		{"settings": obj{"inbound_address": "mine@" + testInboundDomain}},
		{"settings": obj{"inbound_address": nil}},
		{"name": "Renamed", "inbound_address": "mine@acme.test"},
	} {
		msg := wantErr(t, call(t, "PATCH", path, a.Token, body), 400, "bad_request")
		if !strings.Contains(msg, "assigned by Deskwoot") || !strings.Contains(msg, addr) {
			t.Errorf("update with %v: %q, want the refusal naming %s", body, msg, addr)
		}
	}
	if l := inboxes(a.Token); l[0]["name"] != "Mail" || l[0]["inbound_address"] != addr {
		t.Fatalf("a refused update changed the inbox: %v", l[0])
	}

	// Agents see the inbox, not its address.
	agentID, agent := createAgent(t, a.Token)
	want(t, call(t, "POST", path+"/members", a.Token, obj{"user_id": agentID}), 200)
	if l := inboxes(agent); len(l) != 1 || l[0]["inbound_address"] != nil || l[0]["forwarding_instructions"] != nil {
		t.Fatalf("an agent sees %v", l)
	}

	// Rotation: admins only, email inboxes only, own account only.
	rotate := path + "/inbound_address/rotate"
	wantErr(t, call(t, "POST", rotate, agent, nil), 403, "forbidden")
	o := signup(t)
	wantErr(t, call(t, "POST", rotate, o.Token, nil), 404, "not_found")
	wantErr(t, call(t, "POST", fmt.Sprintf("/api/v1/inboxes/%d/inbound_address/rotate", createInbox(t, a.Token)), a.Token, nil), 400, "bad_request")
	b = want(t, call(t, "POST", rotate, a.Token, nil), 200)
	next := str(t, b["inbound_address"])
	prev := list(t, b, "previous_inbound_addresses")
	if next == addr || !strings.HasSuffix(next, "@"+testInboundDomain) || len(prev) != 1 || prev[0]["address"] != addr || prev[0]["accepted_until"] == nil {
		t.Fatalf("after rotation: %s", want(t, call(t, "GET", "/api/v1/inboxes", a.Token, nil), 200))
	}
}
