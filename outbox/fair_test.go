package outbox_test

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/outbox"
)

// hanging is a webhook endpoint that accepts connections, reads what it is
// sent and never answers. It counts the connections open at once.
type hanging struct {
	ln            net.Listener
	open, maxOpen atomic.Int64
	mu            sync.Mutex
	conns         []net.Conn
}

func startHanging(t testing.TB) *hanging {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hanging{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			n := h.open.Add(1)
			for m := h.maxOpen.Load(); n > m && !h.maxOpen.CompareAndSwap(m, n); m = h.maxOpen.Load() {
			}
			go func() {
				io.Copy(io.Discard, c) // until the client gives up
				h.open.Add(-1)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	return h
}

// deliveryTime is how long a reply in conv takes from its commit to the
// receiver (at most limit).
func deliveryTime(t *testing.T, r rig, conv int64, rc *receiver, limit time.Duration) time.Duration {
	t.Helper()
	before := len(rc.got())
	start := time.Now()
	r.reply(t, conv, "Your refund was sent today.")
	for len(rc.got()) == before {
		if time.Since(start) > limit {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestHangingEndpointInOneAccountDoesNotDelayAnother: account A's webhook
// (or SMTP relay) accepts connections and never answers while A sends 200
// replies; account B's reply, on the same outbox (the default 10 workers),
// still reaches B's webhook within 5 s, as it does alone. A never holds
// more than its AccountWorkers connections (workers) at once. On the old
// outbox every worker waited on A's endpoint and B's reply waited for them
// (over 30 s).
func TestHangingEndpointInOneAccountDoesNotDelayAnother(t *testing.T) {
	t.Parallel()
	for _, channel := range []string{"api", "email"} {
		t.Run(channel, func(t *testing.T) {
			t.Parallel()
			a := newRig(t, outbox.Config{})
			b := rig{Tenant: dbtest.NewTenant(t), d: a.d, ob: a.ob}
			recvB := startReceiver(t, "127.0.0.1:0")
			_, convB := b.conversation(t, "api", map[string]any{"webhook_url": recvB.url()})
			deliveryTime(t, b, convB, recvB, 30*time.Second) // warm: the first delivery opens connections
			alone := deliveryTime(t, b, convB, recvB, 30*time.Second)

			hang := startHanging(t)
			settings := map[string]any{"webhook_url": "http://" + hang.ln.Addr().String() + "/hooks/deskwoot"}
			if channel == "email" {
				settings = map[string]any{"smtp_host": "127.0.0.1", "smtp_port": hang.ln.Addr().(*net.TCPAddr).Port, "from_address": "support@a.test"}
			}
			_, convA := a.conversation(t, channel, settings)
			for range 200 {
				a.reply(t, convA, "Are you there?")
			}
			waitFor(t, 10*time.Second, "A's deliveries hanging", func() bool { return hang.open.Load() >= outbox.DefaultAccountWorkers })
			beside := deliveryTime(t, b, convB, recvB, 30*time.Second)
			t.Logf("B's reply delivered in %s alone, %s beside A's 200 hanging on its %s endpoint (%.1fx)", alone.Round(time.Millisecond),
				beside.Round(time.Millisecond), channel, float64(beside)/float64(alone))
			if beside > 5*time.Second {
				t.Errorf("B's reply took %s beside A's hanging endpoint (alone: %s); want at most 5s", beside, alone)
			}
			if n := hang.maxOpen.Load(); n > outbox.DefaultAccountWorkers {
				t.Errorf("A's hanging endpoint held %d connections at once; want at most %d", n, outbox.DefaultAccountWorkers)
			}
		})
	}
}
