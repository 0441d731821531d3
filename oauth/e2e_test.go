package oauth_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deskwoot/deskwoot/browsertest"
	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/server"
)

// skipOrFail skips outside CI (a missing tool or an unreachable registry is
// not a fault of ours) and fails in CI, where .ci/run installs them.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// sdkClient installs the official MCP TypeScript SDK (1.32.x) beside the
// client script in a cached folder and returns the script's path there
// (ES modules resolve packages from the script's own folder).
func sdkClient(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		skipOrFail(t, "npm not found: install Node.js to run the MCP TypeScript SDK client")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "deskwoot-oauth-e2e")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "e2e-client.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			skipOrFail(t, "could not install @modelcontextprotocol/sdk from npm: %v\n%s", err, out)
		}
	}
	return filepath.Join(dir, "e2e-client.mjs")
}

// TestMCPSDKClientEndToEnd connects the official MCP TypeScript SDK client
// through OAuth only: it discovers the authorization server from the 401,
// registers, and sends the person to the authorization URL, where headless
// Chromium signs in on the console and clicks Allow; the code goes back to
// the client's loopback redirect URI. The client then lists and calls tools
// with its token. After the grant is revoked, its next call gets 401 and
// its refresh token is refused.
func TestMCPSDKClientEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the npm and Chromium end-to-end test")
	}
	script := sdkClient(t)
	browser := browsertest.Start(t)

	// A server with the real console, on its own loopback port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	publicURL := "http://" + ln.Addr().String()
	app, err := server.Build(context.Background(), server.Config{AppDatabaseURL: dbtest.AppURL(), PublicURL: publicURL})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: app.Handler}}
	srv.Start()
	defer srv.Close()
	w := newWorld(t)
	w.base = publicURL

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	node := exec.CommandContext(ctx, "node", script, publicURL+"/api/mcp")
	node.Dir = filepath.Dir(script)
	stdin, _ := node.StdinPipe()
	stdout, _ := node.StdoutPipe()
	var stderr strings.Builder
	node.Stderr = &stderr
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	defer node.Process.Kill()
	events := make(chan [2]string, 32)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			name, data, _ := strings.Cut(sc.Text(), " ")
			events <- [2]string{name, data}
		}
		close(events)
	}()
	next := func(want string) map[string]any {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("the client ended before %s; stderr:\n%s", want, stderr.String())
				}
				var data map[string]any
				json.Unmarshal([]byte(ev[1]), &data)
				if ev[0] == "ERROR" {
					t.Fatalf("client error: %v\nstderr:\n%s", data, stderr.String())
				}
				if ev[0] == want {
					return data
				}
				t.Logf("client: %s %s", ev[0], ev[1])
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s; stderr:\n%s", want, stderr.String())
			}
		}
	}

	authURL := next("AUTHORIZE")["url"].(string)
	if !strings.HasPrefix(authURL, publicURL+"/oauth/authorize?") || !strings.Contains(authURL, "code_challenge_method=S256") ||
		!strings.Contains(authURL, "resource=") {
		t.Fatalf("authorization URL %s", authURL)
	}

	// The person: headless Chromium signs in on the console and allows.
	bctx := browsertest.Tab(t, browser, 4*time.Minute)
	err = chromedp.Do(bctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), w.User.Email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "correct horse battery"),
		chromedp.Click(`//button[normalize-space()="Sign in"]`),
		chromedp.WaitVisible(`//button[normalize-space()="Allow"]`),
	)
	if err != nil {
		t.Fatalf("browser: sign in: %v", err)
	}
	// The person also allows approving the grant's drafts in the chat
	// (off unless ticked), which the grant then carries.
	consent, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
	if err == nil {
		err = chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#chat-approval`)), chromedp.Click(`//button[normalize-space()="Allow"]`))
	}
	if err != nil {
		t.Fatalf("browser: consent: %v", err)
	}
	for _, want := range []string{"SDK e2e client", "conversations:read", "Inbox 1", "Require approval", "Allow approving drafts in the chat"} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent page lacks %q:\n%s", want, consent)
		}
	}

	// The client got its token and works the queue with it.
	tools := next("TOOLS")
	names := fmt.Sprint(tools["names"])
	if !strings.Contains(names, "get_conversation") || !strings.Contains(names, "reply_to_conversation") {
		t.Errorf("tools/list through OAuth: %s", names)
	}
	call := next("CALL")
	if call["isError"] == true || !strings.Contains(fmt.Sprint(call["structured"]), "Inbox 1") {
		t.Errorf("tools/call list_inboxes through OAuth: %v", call)
	}
	next("READY")

	// Revoke it where static tokens are revoked.
	var grantID any
	for _, x := range tokenList(t, w) {
		if x["kind"] == "oauth" && x["name"] == "OAuth · SDK e2e client" {
			grantID = x["id"]
			if x["chat_approval"] != true {
				t.Errorf("the grant made with chat approval ticked: %v", x)
			}
		}
	}
	if grantID == nil {
		t.Fatalf("the grant is not in the MCP token list: %v", tokenList(t, w))
	}
	if r := w.rest(t, http.MethodDelete, fmt.Sprintf("/api/v1/mcp/tokens/%v", grantID)); r.Status/100 != 2 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	io.WriteString(stdin, "revoked\n")
	if st := next("AFTER_REVOKE_STATUS"); st["status"] != float64(401) || !strings.Contains(fmt.Sprint(st["challenge"]), "revoked") {
		t.Errorf("the token after revocation: %v", st)
	}
	// The SDK answers the 401 by refreshing, which the server refuses.
	after := next("AFTER_REVOKE_CALL")
	if after["ok"] != false || (after["name"] != "UnauthorizedError" && after["name"] != "InvalidGrantError") {
		t.Errorf("SDK call after revocation: %v", after)
	}
	refresh := next("REFRESH")
	if refresh["ok"] != false || !strings.Contains(fmt.Sprint(refresh["name"], refresh["message"]), "nvalid") {
		t.Errorf("refresh after revocation: %v", refresh)
	}
	if err := node.Wait(); err != nil {
		t.Errorf("client exit: %v\n%s", err, stderr.String())
	}
}
