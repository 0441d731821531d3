package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/audit"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/policy"
)

// keyLines reads `deskwoot audit key` output.
func keyLines(t *testing.T, out string) (pub, private string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "public key: "); ok {
			pub = v
		}
		if v, ok := strings.CutPrefix(l, "DESKWOOT_AUDIT_SIGNING_KEY="); ok {
			private = v
		}
	}
	return pub, private
}

// TestAuditKeyAndOfflineVerify: `audit key` prints the key migrate stored
// (the owner's alone) or a new pair; `audit verify --file --key` passes an
// export as written and fails an edited one naming its line; `audit
// verify --account` catches a changed explanation in the database.
func TestAuditKeyAndOfflineVerify(t *testing.T) {
	ctx := context.Background()
	out, err := runOut(t, "audit", "key", "--new")
	pubNew, privNew := keyLines(t, out)
	if err != nil || pubNew == "" || privNew == "" {
		t.Fatalf("audit key --new: %q, %v", out, err)
	}
	key, err := audit.ParseSigningKey(privNew)
	if err != nil || audit.EncodePublicKey(key.Public().(ed25519.PublicKey)) != pubNew {
		t.Fatalf("the new key's halves do not match: %v", err)
	}
	out, err = runOut(t, "audit", "key", "--private", "--database-url", dbtest.OwnerURL())
	pubStored, privStored := keyLines(t, out)
	stored, serr := audit.StoredKey(ctx, dbtest.Owner(t))
	if err != nil || serr != nil || pubStored != audit.EncodePublicKey(stored.Public().(ed25519.PublicKey)) || privStored != audit.EncodeSigningKey(stored) {
		t.Fatalf("audit key --private: %q, %v, %v", out, err, serr)
	}
	// The app role cannot read it.
	if _, err := audit.StoredKey(ctx, dbtest.App(t).Pool); err == nil {
		t.Fatal("the app role read the stored signing key")
	}

	e, err := policy.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acct := dbtest.NewTenant(t).Account.ID
	ids := recordDecisions(t, e, acct, 3)
	app := dbtest.App(t)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		audit.Seal(ctx, app, acct)
		res, err := audit.Verify(ctx, app, acct)
		if err != nil || res.Unsealed == 0 || time.Now().After(deadline) {
			break
		}
	}
	var export bytes.Buffer
	if err := audit.Export(ctx, app, acct, audit.Filter{}, audit.FormatJSONL, &export, key); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "export.jsonl")
	os.WriteFile(file, export.Bytes(), 0o600)
	out, err = runOut(t, "audit", "verify", "--file", file, "--key", pubNew)
	var rep audit.ExportReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || rep.Proven < 3 {
		t.Fatalf("audit verify --file of the export as written: %v\n%s", err, out)
	}
	if _, err := runOut(t, "audit", "verify", "--file", file, "--key", pubStored); err == nil {
		t.Fatal("the export verified with another key")
	}
	if _, err := runOut(t, "audit", "verify", "--file", file); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Fatalf("--file without --key: %v", err)
	}

	// One explanation edited in the file: the line is named.
	lines := strings.Split(export.String(), "\n")
	n := -1
	for i, l := range lines {
		if strings.HasPrefix(l, `{"record":"row","id":`+strconv.FormatInt(ids[1], 10)+`,`) {
			n = i
			lines[i] = strings.Replace(l, `"allow":true`, `"allow":false`, 1)
		}
	}
	if n < 0 || lines[n] == strings.Split(export.String(), "\n")[n] {
		t.Fatalf("no explanation to edit for row %d", ids[1])
	}
	edited := filepath.Join(dir, "edited.jsonl")
	os.WriteFile(edited, []byte(strings.Join(lines, "\n")), 0o600)
	out, err = runOut(t, "audit", "verify", "--file", edited, "--key", pubNew)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d (audit row %d)", n+1, ids[1])) {
		t.Fatalf("an edited explanation on line %d: %v\n%s", n+1, err, out)
	}

	// In the database: a changed explanation breaks the chain.
	tx, err := dbtest.Owner(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	tx.Exec(ctx, `SELECT set_config('deskwoot.account_id', $1::bigint::text, true)`, acct)
	if _, err := tx.Exec(ctx, `UPDATE audit_log SET explanation = explanation || '{"note": "x"}' WHERE account_id = $1 AND id = $2`, acct, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := runOut(t, "audit", "verify", "--account", strconv.FormatInt(acct, 10), "--seal=false", "--database-url", dbtest.OwnerURL()); err == nil || !strings.Contains(err.Error(), "altered after sealing") {
		t.Fatalf("audit verify --account after a changed explanation: %v", err)
	}
}
