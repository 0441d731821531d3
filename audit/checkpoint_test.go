package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/tenancy"
)

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// record writes n rows with explanations into acct and returns their ids.
func record(t *testing.T, db *tenancy.DB, acct int64, n int, action string) []int64 {
	t.Helper()
	for i := 0; i < n; i++ {
		e := audit.Entry{ActorKind: "agent", Action: action, Decision: "allow", Target: map[string]int64{"inbox_id": int64(i)},
			Explanation: []byte(fmt.Sprintf(`{"path": "deskwoot/authz/decision", "input": {"tool": %q, "n": %d}, "result": {"allow": true}}`, action, i))}
		if err := writeRow(context.Background(), db, acct, e); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := audit.List(context.Background(), db, acct, audit.Filter{Action: action, Limit: n})
	if err != nil || len(rows) != n {
		t.Fatalf("%d rows of %s (%v)", len(rows), action, err)
	}
	ids := make([]int64, n)
	for i, r := range rows {
		ids[n-1-i] = r.ID
	}
	return ids
}

// asOwner runs statements in acct as the schema owner would to tamper
// with the trail (the app role cannot update it).
func asOwner(t *testing.T, acct int64, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	tx, err := dbtest.Owner(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, acct); err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func checkpoint(t *testing.T, db *tenancy.DB, acct int64, key ed25519.PrivateKey) audit.Checkpoint {
	t.Helper()
	cp, ok, err := audit.WriteCheckpoint(context.Background(), db, acct, key)
	if err != nil || !ok {
		t.Fatalf("checkpoint of account %d: written %v, %v", acct, ok, err)
	}
	return cp
}

// TestVerifyRecentStartsAtTheCheckpoint: after a checkpoint, the page's
// check recomputes only the links after it, and reports the chain verified
// through the newest row.
func TestVerifyRecentStartsAtTheCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	key := newKey(t)
	record(t, db, acct, 30, "before")
	sealAll(t, db, acct)
	cp := checkpoint(t, db, acct, key)
	if !cp.SignedBy(pubOf(key)) || cp.SignedBy(pubOf(newKey(t))) {
		t.Fatal("a checkpoint's signature does not tell its key from another")
	}
	after := record(t, db, acct, 5, "after")
	sealAll(t, db, acct)
	res, err := audit.VerifyRecent(ctx, db, acct, pubOf(key), nil)
	if err != nil || !res.OK {
		t.Fatalf("%+v, %v", res, err)
	}
	if res.From == nil || res.From.Seq != cp.Seq || res.Checked != len(after) || res.ThroughID != after[len(after)-1] {
		t.Fatalf("want the %d links after the checkpoint at link %d checked, through row %d: %+v", len(after), cp.Seq, after[len(after)-1], res)
	}
	// Nothing new: no second checkpoint at the same link.
	checkpoint(t, db, acct, key)
	if _, ok, err := audit.WriteCheckpoint(ctx, db, acct, key); ok || err != nil {
		t.Fatalf("a checkpoint over no new links: written %v, %v", ok, err)
	}
	full, err := audit.Verify(ctx, db, acct)
	if err != nil || !full.OK || full.Checked < 35 {
		t.Fatalf("full verify: %+v, %v", full, err)
	}
}

// TestTamperedExplanationIsCaught: the chain covers each row's stored
// explanation. Changing one is caught by the full check, by the page's
// check when the row is after the last checkpoint, and by the page's check
// of the rows on show when it lies behind one.
func TestTamperedExplanationIsCaught(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	key := newKey(t)
	old := record(t, db, acct, 3, "old")
	sealAll(t, db, acct)
	checkpoint(t, db, acct, key)
	recent := record(t, db, acct, 3, "recent")
	sealAll(t, db, acct)

	// A new explanation of the same spelling but another meaning.
	asOwner(t, acct, fmt.Sprintf(`UPDATE audit_log SET explanation = jsonb_set(explanation, '{result,allow}', 'false') WHERE id = %d`, recent[1]))
	full, err := audit.Verify(ctx, db, acct)
	if err != nil || full.OK || full.BrokenAt == nil || *full.BrokenAt != recent[1] || !strings.Contains(full.Problem, "altered after sealing") {
		t.Fatalf("full verify after a changed explanation of row %d: %+v, %v", recent[1], full, err)
	}
	page, err := audit.VerifyRecent(ctx, db, acct, pubOf(key), nil)
	if err != nil || page.OK || page.BrokenAt == nil || *page.BrokenAt != recent[1] {
		t.Fatalf("the page's check after a changed explanation of row %d: %+v, %v", recent[1], page, err)
	}
	if _, ok, err := audit.WriteCheckpoint(ctx, db, acct, key); ok || err == nil {
		t.Fatal("a checkpoint was signed over a broken chain")
	}

	// Put it back: the chain verifies again.
	asOwner(t, acct, fmt.Sprintf(`UPDATE audit_log SET explanation = jsonb_set(explanation, '{result,allow}', 'true') WHERE id = %d`, recent[1]))
	if res, err := audit.VerifyRecent(ctx, db, acct, pubOf(key), nil); err != nil || !res.OK {
		t.Fatalf("after putting the explanation back: %+v, %v", res, err)
	}
	// Behind the checkpoint: caught when the row is on show.
	asOwner(t, acct, fmt.Sprintf(`UPDATE audit_log SET explanation = explanation || '{"note": "edited"}' WHERE id = %d`, old[0]))
	shown, err := audit.VerifyRecent(ctx, db, acct, pubOf(key), []int64{old[2], old[1], old[0]})
	if err != nil || shown.OK || shown.BrokenAt == nil || *shown.BrokenAt != old[0] {
		t.Fatalf("the page showing row %d with a changed explanation behind the checkpoint: %+v, %v", old[0], shown, err)
	}
}

// TestCheckpointByAnotherKeyIsRefused: a checkpoint signed by any key but
// the server's is never a starting point, and one that names the server's
// key without its valid signature is reported.
func TestCheckpointByAnotherKeyIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	key, other := newKey(t), newKey(t)
	record(t, db, acct, 3, "signed")
	sealAll(t, db, acct)
	checkpoint(t, db, acct, key)
	later := record(t, db, acct, 3, "later")
	sealAll(t, db, acct)
	// Someone with the other key vouches for the chain as it is now, then
	// edits a row the server's checkpoint does not cover.
	forged := checkpoint(t, db, acct, other)
	asOwner(t, acct, fmt.Sprintf(`UPDATE audit_log SET action = 'edited' WHERE id = %d`, later[0]))
	res, err := audit.VerifyRecent(ctx, db, acct, pubOf(key), nil)
	if err != nil || res.OK || res.BrokenAt == nil || *res.BrokenAt != later[0] {
		t.Fatalf("verify with the server's key after a checkpoint by another key at link %d: %+v, %v", forged.Seq, res, err)
	}
	if res.From != nil && bytes.Equal(res.From.PublicKey, pubOf(other)) {
		t.Fatal("the check started from the other key's checkpoint")
	}

	// A checkpoint that names the server's key, signed by another.
	acct2 := dbtest.NewTenant(t).Account.ID
	record(t, db, acct2, 2, "x")
	sealAll(t, db, acct2)
	cp := checkpoint(t, db, acct2, other)
	err = db.InTenant(ctx, acct2, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (account_id, public_key, seq, audit_id, hash, signed_at, signature)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, acct2, []byte(pubOf(key)), cp.Seq, cp.AuditID, []byte(cp.Hash), cp.SignedAt, cp.Signature)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err = audit.VerifyRecent(ctx, db, acct2, pubOf(key), nil)
	if err != nil || res.OK || !strings.Contains(res.Problem, "valid signature") {
		t.Fatalf("a checkpoint naming the server's key with another's signature: %+v, %v", res, err)
	}
}

// exportLines exports acct as JSON lines, signed by key.
func exportLines(t *testing.T, db *tenancy.DB, acct int64, f audit.Filter, key ed25519.PrivateKey) []string {
	t.Helper()
	var out bytes.Buffer
	if err := audit.Export(context.Background(), db, acct, f, audit.FormatJSONL, &out, key); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func verifyLines(t *testing.T, lines []string, pub ed25519.PublicKey) audit.ExportReport {
	t.Helper()
	rep, err := audit.VerifyExport(strings.NewReader(strings.Join(lines, "\n")+"\n"), pub)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// lineOf finds the row line of an audit row.
func lineOf(t *testing.T, lines []string, id int64) int {
	t.Helper()
	for i, l := range lines {
		if strings.HasPrefix(l, `{"record":"row","id":`+fmt.Sprint(id)+`,`) {
			return i
		}
	}
	t.Fatalf("no line for audit row %d", id)
	return 0
}

// TestExportVerifiesOffline: an export carries its rows' links, the
// checkpoints and the public key; it verifies offline with the key, and
// fails naming the line when a line is edited, removed, or signed by
// another key. Another account's lines never pass as this one's.
func TestExportVerifiesOffline(t *testing.T) {
	t.Parallel()
	db := dbtest.App(t)
	acct, other := dbtest.NewTenant(t).Account.ID, dbtest.NewTenant(t).Account.ID
	key := newKey(t)
	pub := pubOf(key)
	ids := record(t, db, acct, 5, "exported")
	record(t, db, other, 2, "elsewhere")
	sealAll(t, db, acct)
	sealAll(t, db, other)
	lines := exportLines(t, db, acct, audit.Filter{}, key)
	rep := verifyLines(t, lines, pub)
	if !rep.OK || rep.AccountID != acct || rep.Rows < 5 || rep.Checkpoints == 0 || rep.Proven < 5 || rep.Proven+rep.ChainedNotSigned+rep.Unsealed != rep.Rows {
		t.Fatalf("the export does not verify: %+v\n%s", rep, strings.Join(lines, "\n"))
	}
	if strings.Contains(strings.Join(lines, "\n"), "elsewhere") {
		t.Fatal("the export holds another account's rows")
	}

	edit := func(what string, i int, from, to string) audit.ExportReport {
		t.Helper()
		changed := append([]string(nil), lines...)
		if !strings.Contains(changed[i], from) {
			t.Fatalf("%s: line %d lacks %q: %s", what, i+1, from, changed[i])
		}
		changed[i] = strings.Replace(changed[i], from, to, 1)
		return verifyLines(t, changed, pub)
	}
	n := lineOf(t, lines, ids[2])
	for _, c := range []struct{ what, from, to string }{
		{"action", `"action":"exported"`, `"action":"exportex"`},
		{"explanation", `"allow":true`, `"allow":false`},
		{"target", `"inbox_id":2`, `"inbox_id":3`},
		{"explanation removed", `"explanation":{`, `"explained":{`},
	} {
		rep := edit(c.what, n, c.from, c.to)
		if rep.OK || rep.Line != n+1 || rep.AuditID == nil || *rep.AuditID != ids[2] {
			t.Errorf("edited %s on line %d: %+v", c.what, n+1, rep)
		}
	}
	// A removed row line in an unfiltered export.
	removed := append(append([]string(nil), lines[:n]...), lines[n+1:]...)
	if rep := verifyLines(t, removed, pub); rep.OK || !strings.Contains(rep.Problem, "missing") {
		t.Errorf("a removed row line: %+v", rep)
	}
	// Another key: the one given, or a checkpoint's.
	if rep := verifyLines(t, lines, pubOf(newKey(t))); rep.OK || rep.Line != 1 {
		t.Errorf("verified with another key: %+v", rep)
	}
	last := len(lines) - 1
	var cp audit.ExportCheckpoint
	if err := json.Unmarshal([]byte(lines[last]), &cp); err != nil || cp.Record != "checkpoint" {
		t.Fatalf("the last line is not a checkpoint: %s", lines[last])
	}
	otherKey := newKey(t)
	cp.PublicKey, cp.Signature = pubOf(otherKey), ed25519.Sign(otherKey, []byte("anything"))
	b, _ := json.Marshal(cp)
	forged := append(append([]string(nil), lines[:last]...), string(b))
	if rep := verifyLines(t, forged, pub); rep.OK || rep.Line != last+1 || !strings.Contains(rep.Problem, "another key") {
		t.Errorf("a checkpoint signed by another key: %+v", rep)
	}
	// A checkpoint of the other account, signed by the same key.
	otherLines := exportLines(t, db, other, audit.Filter{}, key)
	spliced := append(append([]string(nil), lines...), otherLines[len(otherLines)-1])
	if rep := verifyLines(t, spliced, pub); rep.OK || rep.Line != len(spliced) || !strings.Contains(rep.Problem, "account") {
		t.Errorf("another account's checkpoint: %+v", rep)
	}

	// A filtered export verifies each row's link; gaps are expected.
	filtered := exportLines(t, db, acct, audit.Filter{Action: "exported"}, key)
	if rep := verifyLines(t, filtered, pub); !rep.OK || rep.Rows != 5 {
		t.Errorf("a filtered export: %+v", rep)
	}
}

// TestSealerSignsCheckpoints: the sealer signs a checkpoint once an
// account's chain has grown CheckpointEvery links past its last one.
func TestSealerSignsCheckpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.App(t)
	acct := dbtest.NewTenant(t).Account.ID
	key := newKey(t)
	err := db.InTenant(ctx, acct, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO audit_log (account_id, actor_kind, action, decision, explanation)
			SELECT $1, 'agent', 'bulk', 'allow', jsonb_build_object('n', g) FROM generate_series(1, $2) g`, acct, audit.CheckpointEvery+10)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	lg := &audit.Log{DB: db, Key: key}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := lg.SealAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
		cps := signedBy(t, db, acct, key)
		if len(cps) == 1 && cps[0].Seq >= int64(audit.CheckpointEvery) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after %d links: %+v", audit.CheckpointEvery+10, cps)
		}
	}
	// Below CheckpointEvery new links, none is due.
	record(t, db, acct, 2, "few")
	sealAll(t, db, acct)
	if _, err := lg.SealAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if cps := signedBy(t, db, acct, key); len(cps) != 1 {
		t.Fatalf("%d checkpoints after 2 more links", len(cps))
	}
}

// signedBy lists the account's checkpoints signed by key (a server of
// another test process may sign its own).
func signedBy(t *testing.T, db *tenancy.DB, acct int64, key ed25519.PrivateKey) []audit.Checkpoint {
	t.Helper()
	cps, err := audit.CheckpointPage(context.Background(), db, acct, 0, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Checkpoint
	for _, c := range cps {
		if c.SignedBy(pubOf(key)) {
			out = append(out, c)
		}
	}
	return out
}
