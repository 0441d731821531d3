package api_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
)

func TestAuditExport(t *testing.T) {
	t.Parallel()
	a, o := signup(t), signup(t)
	want(t, call(t, "PUT", "/api/v1/settings/mcp", a.Token, obj{"enabled": true}), 200)
	want(t, call(t, "POST", "/api/v1/mcp/tokens", a.Token, obj{"name": "=HYPERLINK(1)", "preset": "read_only"}), 201)

	r := call(t, "GET", "/api/v1/audit/export?format=csv", a.Token, nil)
	want(t, r, 200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("content type %q", ct)
	}
	recs, err := csv.NewReader(bytes.NewReader(r.Raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 4 || recs[0][0] != "id" || recs[0][5] != "action" {
		t.Fatalf("csv: %v", recs)
	}
	actions := map[string]bool{}
	for _, rec := range recs[1:] {
		actions[rec[5]] = true
	}
	for _, act := range []string{"settings.mcp", "mcp.token.create", "audit.export"} {
		if !actions[act] {
			t.Errorf("csv export lacks %s: %v", act, actions)
		}
	}

	// JSON lines with a filter: only the matching rows, each a whole object.
	r = call(t, "GET", "/api/v1/audit/export?format=jsonl&tool=settings.mcp", a.Token, nil)
	want(t, r, 200)
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(r.Raw))
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if row["action"] != "settings.mcp" || id(t, row["actor_id"]) != a.UserID {
			t.Fatalf("filtered export let through %v", row)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d settings.mcp rows exported, want 1", n)
	}
	// Another account exports only its own rows.
	r = call(t, "GET", "/api/v1/audit/export?format=jsonl", o.Token, nil)
	want(t, r, 200)
	if bytes.Contains(r.Raw, []byte("settings.mcp")) {
		t.Fatal("another account's export holds this account's rows")
	}

	wantErr(t, call(t, "GET", "/api/v1/audit/export?format=xml", a.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/audit/export?format=csv&decision=maybe", a.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/audit/export?format=csv&since=yesterday", a.Token, nil), 400, "bad_request")
	_, agent := createAgent(t, a.Token)
	wantErr(t, call(t, "GET", "/api/v1/audit/export?format=csv", agent, nil), 403, "forbidden")
	wantErr(t, call(t, "GET", "/api/v1/audit/export?format=csv", "", nil), 401, "unauthorized")
}
