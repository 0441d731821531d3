package api_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/audit"
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
	if len(recs) < 4 || recs[0][0] != "id" || recs[0][5] != "action" || recs[0][14] != "record" {
		t.Fatalf("csv: %v", recs)
	}
	actions := map[string]bool{}
	checkpoints := 0
	for _, rec := range recs[1:] {
		switch rec[14] {
		case "row":
			actions[rec[5]] = true
		case "checkpoint":
			checkpoints++
			if rec[15] != audit.EncodePublicKey(testAuditKey.Public().(ed25519.PublicKey)) || rec[16] == "" {
				t.Errorf("csv checkpoint without the public key and signature: %v", rec)
			}
		}
	}
	if checkpoints == 0 {
		t.Error("the csv export carries no checkpoint")
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
		if row["record"] != "row" {
			continue
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

// TestAuditChainOverREST: GET /api/v1/audit says how far the chain
// verified, GET /api/v1/audit/checkpoints lists the signed checkpoints with
// the public key, and an export verifies offline with that key, and fails
// on an edited line, naming it. Accounts see only their own.
func TestAuditChainOverREST(t *testing.T) {
	t.Parallel()
	a, o := signup(t), signup(t)
	want(t, call(t, "PUT", "/api/v1/settings/mcp", a.Token, obj{"enabled": true}), 200)
	// The export seals and signs first (sealing takes rows below the
	// cluster's oldest running transaction, which another test process may
	// hold back for a moment).
	var r resp
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r = call(t, "GET", "/api/v1/audit/export?format=jsonl", a.Token, nil)
		want(t, r, 200)
		if bytes.Contains(r.Raw, []byte(`"action":"settings.mcp"`)) && !bytes.Contains(r.Raw, []byte(`"chain":null`)) || time.Now().After(deadline) {
			break
		}
	}
	cps := want(t, call(t, "GET", "/api/v1/audit/checkpoints", a.Token, nil), 200)
	key, _ := cps["public_key"].(string)
	pub, err := audit.ParsePublicKey(key)
	if err != nil || !pub.Equal(testAuditKey.Public()) {
		t.Fatalf("public key %q (%v)", key, err)
	}
	list, _ := cps["checkpoints"].([]any)
	if len(list) == 0 {
		t.Fatalf("no checkpoints after an export: %v", cps)
	}
	first := list[0].(obj)
	if first["verified"] != true || id(t, first["account_id"]) != a.AccountID {
		t.Fatalf("checkpoint %v", first)
	}
	rep, err := audit.VerifyExport(bytes.NewReader(r.Raw), pub)
	if err != nil || !rep.OK || rep.Proven == 0 || rep.AccountID != a.AccountID {
		t.Fatalf("the export does not verify offline: %+v, %v\n%s", rep, err, r.Raw)
	}
	lines := strings.Split(string(r.Raw), "\n")
	for i, l := range lines {
		if strings.Contains(l, `"action":"settings.mcp"`) {
			lines[i] = strings.Replace(l, `"decision":"allow"`, `"decision":"deny"`, 1)
			rep, _ := audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")), pub)
			if rep.OK || rep.Line != i+1 {
				t.Fatalf("an edited line %d: %+v", i+1, rep)
			}
			break
		}
	}

	page := want(t, call(t, "GET", "/api/v1/audit?limit=5", a.Token, nil), 200)
	chain, _ := page["chain"].(obj)
	if chain["ok"] != true || chain["from_checkpoint"] == nil || id(t, chain["verified_through_audit_id"]) == 0 {
		t.Fatalf("chain state %v", chain)
	}

	// Paging, and the other account's list.
	if len(list) > 0 {
		c := list[len(list)-1].(obj)
		next := fmt.Sprintf("%d.%x", id(t, c["seq"]), mustB64(t, c["public_key"]))
		more := want(t, call(t, "GET", "/api/v1/audit/checkpoints?cursor="+next, a.Token, nil), 200)
		if rest, _ := more["checkpoints"].([]any); len(rest) != 0 {
			t.Fatalf("a page after the last checkpoint: %v", rest)
		}
	}
	if l, _ := want(t, call(t, "GET", "/api/v1/audit/checkpoints", o.Token, nil), 200)["checkpoints"].([]any); len(l) != 0 {
		t.Fatalf("another account lists checkpoints %v", l)
	}
	wantErr(t, call(t, "GET", "/api/v1/audit/checkpoints?cursor=x", a.Token, nil), 400, "bad_request")
	wantErr(t, call(t, "GET", "/api/v1/audit/checkpoints?limit=101", a.Token, nil), 400, "bad_request")
	_, agent := createAgent(t, a.Token)
	wantErr(t, call(t, "GET", "/api/v1/audit/checkpoints", agent, nil), 403, "forbidden")
}

func mustB64(t *testing.T, v any) []byte {
	t.Helper()
	s, _ := v.(string)
	k, err := audit.ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
