package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/identity"
	"github.com/deskwoot/deskwoot/outbox"
	"github.com/deskwoot/deskwoot/tenancy"
)

// TestCrashBetweenCommitAndDelivery kills `deskwoot serve` (SIGKILL) after a
// reply committed but before it was delivered, restarts it, and checks the
// receiver gets the reply exactly once, with the stable key. It runs on a
// scratch database of its own, so that no other process's workers (other
// test packages share the cluster) can take the job while serve is down.
func TestCrashBetweenCommitAndDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	ctx := context.Background()
	ownerURL, appURL := dbtest.Scratch(t, "crashtest")

	bin := filepath.Join(t.TempDir(), "deskwoot")
	build := exec.Command("go", "build", "-o", bin, "../cmd/deskwoot")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/deskwoot: %v\n%s", err, out)
	}

	app, err := tenancy.Open(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	owner, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	ten, err := (&identity.Identities{DB: app, PasswordCost: bcrypt.MinCost}).Signup(ctx,
		identity.SignupInput{AccountName: "Crash Co", Email: "admin@crash.test", Password: "correct horse battery"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := &desk.Desk{DB: app} // no outbox: only serve enqueues here
	hookAddr := downAddr(t)
	ib, err := d.InboxCreate(ctx, tenancy.For(ten.Account.ID), desk.InboxInput{Name: "API", Channel: "api",
		Settings: map[string]any{"webhook_url": "http://" + hookAddr + "/hook", "webhook_secret": secret}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := d.IncomingMessage(ctx, ten.Account.ID, ib.ID, desk.IncomingInput{
		Contact: desk.IncomingContact{Email: "cat@customer.test"}, Content: "Is my order lost?"})
	if err != nil {
		t.Fatal(err)
	}

	httpAddr := downAddr(t)
	serve := startServe(t, bin, appURL, httpAddr)

	// A human reply, committed by the serve process (message and job in one transaction).
	body, _ := json.Marshal(map[string]any{"content": "It is on its way."})
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/v1/conversations/%d/messages", httpAddr, in.ConversationID), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+ten.APIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Message desk.Message `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || out.Message.ID == 0 {
		t.Fatalf("reply: %d %+v", resp.StatusCode, out)
	}
	msgID := out.Message.ID

	// The first attempt fails (nobody listens yet); the job waits for its retry.
	jobState := func() (state string, attempt int) {
		owner.QueryRow(ctx, `SELECT state::text, attempt FROM river_job WHERE kind = 'deliver_message' AND (args->>'message_id')::bigint = $1`,
			msgID).Scan(&state, &attempt)
		return state, attempt
	}
	waitFor(t, 20*time.Second, "the first attempt", func() bool {
		s, a := jobState()
		return a >= 1 && s != "running"
	})
	if err := serve.Process.Kill(); err != nil { // SIGKILL: no graceful anything
		t.Fatal(err)
	}
	serve.Wait()
	status := func() string {
		var s string
		app.InTenant(ctx, ten.Account.ID, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT delivery_status FROM messages WHERE id = $1`, msgID).Scan(&s)
		})
		return s
	}
	if s := status(); s != "pending" {
		t.Fatalf("after the crash the reply is %q, want pending", s)
	}

	rc := startReceiver(t, hookAddr)
	time.Sleep(2 * time.Second)
	if n := len(rc.got()); n != 0 {
		t.Fatalf("receiver got %d requests while serve was down", n)
	}
	startServe(t, bin, appURL, httpAddr)
	waitFor(t, 60*time.Second, "delivery after the restart", func() bool { return status() == "sent" })
	time.Sleep(1500 * time.Millisecond)
	got := rc.got()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want exactly 1", len(got))
	}
	if k := got[0].header.Get("Idempotency-Key"); k != outbox.IdempotencyKey(msgID) {
		t.Fatalf("Idempotency-Key %q, want %q", k, outbox.IdempotencyKey(msgID))
	}
	if err := outbox.VerifySignature(secret, got[0].header.Get("X-Deskwoot-Timestamp"), got[0].body, got[0].header.Get("X-Deskwoot-Signature")); err != nil {
		t.Fatal(err)
	}
}

// startServe runs `deskwoot serve` and waits for /healthz.
func startServe(t *testing.T, bin, appURL, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+appURL, "DESKWOOT_ADDR="+addr, "DESKWOOT_SMTP_ADDR=", "DESKWOOT_WEBHOOK_ALLOW_PRIVATE=true")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("serve output:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
