package mcp_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/policy"
)

// TestSwitchesEveryCatalogTool calls every catalog tool with one
// full-agent token under each switch (none, the workspace's agents paused,
// tools switched off, the token paused, and back) and checks allow or deny
// against the table the design gives. The switches are flipped through
// REST between calls of the same token, whose principal the server keeps
// in memory: each change must reach the very next call.
func TestSwitchesEveryCatalogTool(t *testing.T) {
	t.Parallel()
	url := endpoint(t)
	w := newWorld(t)
	engine, err := policy.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	catalog := engine.Catalog()
	token := w.token(t, allScopes, nil)
	tokens, err := identity.MCPTokenList(context.Background(), w.d.DB, w.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	tokenID := tokens[0].ID
	off := []string{"get_contact", "add_private_note", "poll_events"}

	put := func(body map[string]any) {
		t.Helper()
		if code, out := restCall(t, http.MethodPut, "/api/v1/settings/mcp", w.APIToken, body); code != 200 {
			t.Fatalf("PUT settings/mcp %v: %d %v", body, code, out)
		}
	}
	post := func(path string) {
		t.Helper()
		if code, out := restCall(t, http.MethodPost, path, w.APIToken, nil); code != 200 {
			t.Fatalf("POST %s: %d %v", path, code, out)
		}
	}
	states := []struct {
		name  string
		apply func()
		// allowed says whether a tool of the catalog is allowed, and
		// refusal what its tool error must say when not.
		allowed func(tool string) bool
		refusal string
	}{
		{"none", func() {}, func(string) bool { return true }, ""},
		{"agents paused", func() { put(map[string]any{"agents_paused": true}) },
			func(tool string) bool { return catalog[tool].Access == "read" }, "the workspace paused its AI agents"},
		{"agents resumed, tools off", func() { put(map[string]any{"agents_paused": false, "disabled_tools": off}) },
			func(tool string) bool { return !slices.Contains(off, tool) }, "is switched off for this workspace"},
		{"token paused", func() {
			put(map[string]any{"disabled_tools": []string{}})
			post(fmt.Sprintf("/api/v1/mcp/tokens/%d/pause", tokenID))
		},
			func(string) bool { return false }, "this token is paused (paused by an admin)"},
		{"token resumed", func() { post(fmt.Sprintf("/api/v1/mcp/tokens/%d/resume", tokenID)) },
			func(string) bool { return true }, ""},
	}
	// The draft card's tools are for OAuth grants that may approve in the
	// chat (TestChatApproval… in package oauth).
	names := slices.Sorted(func(yield func(string) bool) {
		for n, t := range catalog {
			if !t.AppOnly && !yield(n) {
				return
			}
		}
	})
	for _, st := range states {
		st.apply()
		for _, tool := range names {
			text, isErr, _ := callTool(t, url, token, tool, argsFor(w, tool))
			want := st.allowed(tool)
			if isErr == want {
				t.Errorf("%s: %s: isError = %v, want allowed = %v (%s)", st.name, tool, isErr, want, text)
				continue
			}
			if !want && !strings.Contains(text, st.refusal) {
				t.Errorf("%s: %s: refusal %q does not say %q", st.name, tool, text, st.refusal)
			}
		}
		listed := listTools(t, url, token)
		for _, tool := range off {
			if slices.Contains(listed, tool) != (st.name != "agents resumed, tools off") {
				t.Errorf("%s: tools/list shows %s: %v", st.name, tool, slices.Contains(listed, tool))
			}
		}
	}
}

// TestSwitchesSettingsKeepWhatAPutLeavesOut: a PUT changes the fields it
// names only; bad values are 400 and change nothing; every change is
// audited with the person as actor.
func TestSwitchesSettingsKeepWhatAPutLeavesOut(t *testing.T) {
	t.Parallel()
	endpoint(t)
	w := newWorld(t)
	code, out := restCall(t, http.MethodPut, "/api/v1/settings/mcp", w.APIToken, map[string]any{"agents_paused": true, "disabled_tools": []string{"get_article"}})
	if code != 200 || out["agents_paused"] != true || fmt.Sprint(out["disabled_tools"]) != "[get_article]" || out["enabled"] != true {
		t.Fatalf("PUT: %d %v", code, out)
	}
	code, out = restCall(t, http.MethodPut, "/api/v1/settings/mcp", w.APIToken, map[string]any{"suspend_after_denials": 0})
	if code != 200 || out["agents_paused"] != true || fmt.Sprint(out["disabled_tools"]) != "[get_article]" || out["suspend_after_denials"] != float64(0) || out["suspend_after_inbox_probes"] != float64(5) {
		t.Fatalf("PUT keeping the rest: %d %v", code, out)
	}
	for _, bad := range []map[string]any{
		{"disabled_tools": []string{"delete_everything"}},
		{"suspend_after_denials": -1},
		{"suspend_after_inbox_probes": 1001},
		{"agents_paused": "yes"},
		{},
	} {
		if code, out := restCall(t, http.MethodPut, "/api/v1/settings/mcp", w.APIToken, bad); code != 400 {
			t.Errorf("PUT %v: %d %v, want 400", bad, code, out)
		}
	}
	code, out = restCall(t, http.MethodGet, "/api/v1/settings/mcp", w.APIToken, nil)
	if code != 200 || out["agents_paused"] != true || fmt.Sprint(out["disabled_tools"]) != "[get_article]" {
		t.Fatalf("GET after bad PUTs: %d %v", code, out)
	}
	rows, err := audit.List(context.Background(), dbtest.App(t), w.Account.ID, audit.Filter{Action: "settings.mcp.switches", Limit: 10})
	if err != nil || len(rows) != 2 {
		t.Fatalf("audit rows of the switches: %v %v, want the 2 changes", rows, err)
	}
	first := rows[len(rows)-1]
	if first.ActorKind != "user" || first.ActorID == nil || *first.ActorID != w.User.ID || !slices.Contains(first.Reasons, "agents_paused=true") {
		t.Errorf("audit row: %+v, want the admin %d as actor and agents_paused=true", first, w.User.ID)
	}
	if code, _ := restCall(t, http.MethodPost, "/api/v1/mcp/tokens/999999999/pause", w.APIToken, nil); code != 404 {
		t.Errorf("pause of an unknown token: %d, want 404", code)
	}
}
