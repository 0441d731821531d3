package server_test

import (
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
)

// TestSignOutEndsItsStreamsOnEveryReplica: a person signs out on replica
// one while the same session has a live stream open on replica two (two
// tabs behind a load balancer). The stream on replica two ends at once,
// through the event hub, not at its next session re-check (30 s); another
// session of the same person keeps its stream.
func TestSignOutEndsItsStreamsOnEveryReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two replicas")
	}
	f := startFleetAt(t, dbtest.AppURL(), 2, true)
	one, two := f.urls[0], f.urls[1]
	_, email, _ := adminWorkspace(t, one, "Signs out")

	leaving := newBrowserClient(t, one)
	leaving.signIn(email, "correct horse battery")
	// The same browser (its cookie jar) on replica two.
	elsewhere := &browserClient{t: t, base: two, hc: leaving.hc}
	ending := openLive(t, elsewhere)

	staying := newBrowserClient(t, two)
	staying.signIn(email, "correct horse battery")
	kept := openLive(t, staying)

	signedOut := time.Now()
	if st, loc, body := leaving.post("/signout", nil); st != 303 || loc != "/signin" {
		t.Fatalf("sign-out: %d %s\n%s", st, loc, body)
	}
	select {
	case end := <-ending:
		if !end.ended {
			t.Fatalf("the stream on replica two broke off without its end event: %v", end.err)
		}
		t.Logf("the stream on replica two ended %s after the sign-out answered", end.at.Sub(signedOut).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the signed-out session's stream on replica two still runs 5 s after the sign-out")
	}
	select {
	case end := <-kept:
		t.Fatalf("another session's stream ended too: %+v", end)
	case <-time.After(500 * time.Millisecond):
	}
}
