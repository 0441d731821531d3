// Package browsertest starts the headless Chromium that browser tests
// drive (chromedp), the same way for every package: one browser per test,
// started with the flags such a test needs (its own profile, no
// background traffic, no QUIC, 1280×900) and ended with the test, a tab
// per person, and one folder for screenshots.
//
// Without Chromium a test is skipped, except in CI (CI=true, where .ci/run
// installs it), where that is a failure. CHROMIUM names the browser when
// it is not /usr/bin/chromium.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the browser, or skips t (fails it in CI).
func Path(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI needs the browser tests: apt-get install -y chromium (.ci/run does)")
	}
	t.Skip("skipping the browser test: chromium is not installed (apt-get install chromium, or set CHROMIUM); set CI=true to make this a failure")
	return ""
}

// Start starts the browser for t and returns its context (chromedp's
// first tab); the browser ends with the test, in a Cleanup. A server its
// pages talk to must close after it (in a Cleanup registered later, or
// started later): httptest.Server.Close waits for the open connections,
// and a console page holds its live stream open.
func Start(t testing.TB) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path(t)), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // start it now: a failure is the browser's, not a step's
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Tab opens a tab of the browser in a browser context of its own (its
// own cookies: one person), whose steps must be done within timeout.
func Tab(t testing.TB, browser context.Context, timeout time.Duration) context.Context {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelT)
	return ctx
}

// Shots is the folder screenshots go to, made if need be:
// DESKWOOT_ARTIFACTS/screenshots, else artifacts/screenshots at the
// module's root (tests run in their package's folder).
func Shots(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DESKWOOT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "artifacts")
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
