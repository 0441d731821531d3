package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/migrations"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestCanonicalVersions pins what each chain version hashes: version 1 is
// byte for byte what links sealed before migration 0045 hashed; version 2
// adds the account and the explanation, read the same whatever its
// spelling (PostgreSQL's jsonb text, an export's compact line).
func TestCanonicalVersions(t *testing.T) {
	actor := int64(7)
	x := Decision{Row: Row{ID: 5, At: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), ActorKind: "agent", ActorID: &actor, Action: "list_inboxes",
		Decision: "allow", Reasons: []string{}, Target: map[string]int64{"inbox_id": 3, "conversation_id": 9}, ArgsDigest: "d", PolicyRev: "r", RequestID: "q"},
		Explanation: []byte(`{"path": "x", "result": {"allow": true}}`)}
	if got, want := string(x.canonical(chainV1, 1)), `[5,"2026-01-02T03:04:05.000006Z","agent",7,null,"list_inboxes","allow",[],[["conversation_id",9],["inbox_id",3]],"d","r","q"]`; got != want {
		t.Fatalf("version 1 hashes\n%s\nwant\n%s", got, want)
	}
	v2 := string(x.canonical(chainV2, 1))
	if want := `[2,1,5,"2026-01-02T03:04:05.000006Z","agent",7,null,"list_inboxes","allow",[],[["conversation_id",9],["inbox_id",3]],"d","r","q","",{"path":"x","result":{"allow":true}}]`; v2 != want {
		t.Fatalf("version 2 hashes\n%s\nwant\n%s", v2, want)
	}
	for _, same := range []string{`{"result":{"allow":true},"path":"x"}`, "{ \"path\" : \"\\u0078\",\n \"result\": {\"allow\": true} }"} {
		y := x
		y.Explanation = []byte(same)
		if string(y.canonical(chainV2, 1)) != v2 {
			t.Errorf("explanation %s hashes differently from its jsonb spelling", same)
		}
	}
	for _, other := range []func(*Decision){
		func(d *Decision) { d.Explanation = []byte(`{"path": "x", "result": {"allow": false}}`) },
		func(d *Decision) { d.Explanation = nil },
		func(d *Decision) { d.ClientID = "dwc_1" },
	} {
		y := x
		other(&y)
		if string(y.canonical(chainV2, 1)) == v2 {
			t.Errorf("a changed row hashes the same: %s", y.canonical(chainV2, 1))
		}
	}
	if string(x.canonical(chainV2, 2)) == v2 {
		t.Error("the same row in another account hashes the same")
	}
}

// TestMigrationKeepsVersion1Links fills a schema from before migration
// 0045 with a chain the previous sealer wrote, migrates, and seals more:
// the old links keep their version 1 hashes, the first version 2 link
// chains from the last of them, and the whole chain verifies, in the
// database and offline from an export.
func TestMigrationKeepsVersion1Links(t *testing.T) {
	ctx := context.Background()
	ownerURL, db, acct := dbtest.OldWorkspace(t, "audit_v1", 44)
	for _, a := range []string{"old.1", "old.2", "old.3"} {
		if err := db.Unit(ctx, tenancy.Recorded(acct, Entry{ActorKind: "agent", Action: a, Decision: "allow", Explanation: []byte(`{"path": "p"}`)}), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	sealV1(t, db, acct)
	if _, err := migrations.Run(ctx, ownerURL, migrations.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"new.1", "new.2"} {
		if err := db.Unit(ctx, tenancy.Recorded(acct, Entry{ActorKind: "agent", Action: a, Decision: "allow", Explanation: []byte(`{"path": "p"}`)}), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Sealing takes rows below the oldest running transaction of the
	// cluster, which another test process may hold back for a moment.
	for sealed, deadline := 0, time.Now().Add(20*time.Second); sealed < 2; time.Sleep(50 * time.Millisecond) {
		n, err := Seal(ctx, db, acct)
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("sealed %d of 2 new rows: %v", sealed+n, err)
		}
		sealed += n
	}
	if err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT version FROM audit_chain WHERE account_id = $1 ORDER BY seq`, acct)
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int16])
		if err != nil {
			return err
		}
		if len(versions) < 5 || versions[0] != 1 || versions[len(versions)-1] != 2 || versions[len(versions)-3] != 1 {
			t.Errorf("link versions %v: want the old links 1 and the two new ones 2", versions)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	full, err := Verify(ctx, db, acct)
	if err != nil || !full.OK || full.Unsealed != 0 {
		t.Fatalf("the mixed chain does not verify: %+v, %v", full, err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var out bytes.Buffer
	if err := Export(ctx, db, acct, Filter{}, FormatJSONL, &out, key); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyExport(bytes.NewReader(out.Bytes()), key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK || rep.Proven != full.Checked {
		t.Fatalf("the export of the mixed chain: %+v, %v\n%s", rep, err, out.String())
	}

	// An edited line whose hash is recomputed, as anyone may: the next
	// link no longer chains from it.
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, l := range lines {
		var x ExportRow
		if json.Unmarshal([]byte(l), &x) != nil || x.Record != "row" || x.Action != "new.1" {
			continue
		}
		x.Action = "new.edited"
		x.Chain.Hash = link(x.Chain.PrevHash, Decision{Row: x.Row, Explanation: x.Explanation}.canonical(x.Chain.Version, acct))
		b, _ := json.Marshal(x)
		lines[i] = string(b)
		rep, err := VerifyExport(strings.NewReader(strings.Join(lines, "\n")), key.Public().(ed25519.PublicKey))
		if err != nil || rep.OK || rep.Line != i+1 {
			t.Fatalf("a re-hashed edit on line %d: %+v, %v", i+1, rep, err)
		}
		return
	}
	t.Fatal("no row new.1 in the export")
}

// sealV1 seals the account's rows as the sealer before migration 0045
// did: version 1 hashes into audit_chain without its version column.
func sealV1(t *testing.T, db *tenancy.DB, acct int64) {
	t.Helper()
	ctx := context.Background()
	err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+chainRowColumns+` FROM audit_log WHERE account_id = $1 ORDER BY xid, id`, acct)
		todo, err := pgx.CollectRows(rows, scanDecision)
		if err != nil {
			return err
		}
		var prev []byte
		for i, x := range todo {
			prev = link(prev, x.canonical(chainV1, acct))
			if _, err := tx.Exec(ctx, `INSERT INTO audit_chain (account_id, seq, audit_id, hash) VALUES ($1, $2, $3, $4)`, acct, i+1, x.ID, prev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
