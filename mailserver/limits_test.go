package mailserver_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/deskwoot/deskwoot/dbtest"
	"github.com/deskwoot/deskwoot/mailserver"
)

// dialFrom connects to the listener from the loopback address local, which
// the per-address limit counts as another sending host.
func (w world) dialFrom(t *testing.T, local string) *smtp.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", w.smtp)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	return c
}

// sendOn sends one new mail to rcpts over c.
func sendOn(c *smtp.Client, rcpts ...string) error {
	raw := mailText(dbtest.Unique("flood")+"@customer.test", "", "Flood", "one more")
	return c.SendMail("ann@customer.test", rcpts, strings.NewReader(strings.ReplaceAll(raw, "\n", "\r\n")))
}

// deferred tells a temporary refusal for a rate limit (451 4.7.1), which
// the sending server retries, from any other answer.
func deferred(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Temporary() && se.Code == 451 &&
		se.EnhancedCode == smtp.EnhancedCode{4, 7, 1} && strings.Contains(se.Message, "try again in")
}

// One address flooding (the red team's 300 mails in a second) gets the
// per-address burst through, then 451 4.7.1 on every further mail of the
// same connection; another address still delivers to the same inbox, and
// the flooder gets one mail through per refill interval.
func TestFloodFromOneAddressIsDeferred(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 0) // the default limits, on the world's stopped clock
	burst := mailserver.DefaultMailsPerAddress / 3
	flood := w.dialFrom(t, "127.0.0.1")
	for i := range burst {
		if err := sendOn(flood, w.address); err != nil {
			t.Fatalf("mail %d of the burst: %v", i+1, err)
		}
	}
	for i := range 5 {
		if err := sendOn(flood, w.address); !deferred(err) {
			t.Fatalf("mail %d past the burst of %d: %v, want 451 4.7.1 (temporary)", i+1, burst, err)
		}
	}
	if n := len(w.messages(t)); n != burst {
		t.Fatalf("%d messages recorded, want the burst of %d", n, burst)
	}
	if err := sendOn(w.dialFrom(t, "127.0.0.2"), w.address); err != nil {
		t.Fatalf("another address, same inbox, during the flood: %v", err)
	}
	w.clock.Add(time.Minute / mailserver.DefaultMailsPerAddress)
	if err := sendOn(flood, w.address); err != nil {
		t.Fatalf("the flooding address after one refill interval: %v", err)
	}
	if err := sendOn(flood, w.address); !deferred(err) {
		t.Fatalf("a second mail in the same interval: %v, want 451 4.7.1", err)
	}
	if n := len(w.messages(t)); n != burst+2 {
		t.Fatalf("%d messages recorded, want %d", n, burst+2)
	}
}

// A flood spread over several addresses fills one inbox's budget and no
// more: that inbox's recipient gets 451 4.7.1 while the same mail is
// taken for another workspace's inbox, whose mail is unaffected.
func TestFloodIntoOneInboxDefersOnlyThatInbox(t *testing.T) {
	t.Parallel()
	a := newWorld(t, 0) // the default limits, on the world's stopped clock
	b := a              // the same listener, another workspace
	b.Tenant = dbtest.NewTenant(t)
	b.inbox, b.address = b.emailInbox(t, b.Account.ID)

	perAddress, inboxBurst := mailserver.DefaultMailsPerAddress/3, mailserver.DefaultMailsPerInbox/3
	sent := 0
	for host := 1; sent < inboxBurst; host++ {
		c := a.dialFrom(t, "127.0.1."+strconv.Itoa(host))
		for i := 0; i < perAddress && sent < inboxBurst; i++ {
			if err := sendOn(c, a.address); err != nil {
				t.Fatalf("mail %d of the inbox's burst: %v", sent+1, err)
			}
			sent++
		}
	}
	c := a.dialFrom(t, "127.0.2.1") // a fresh address: its own budget is whole
	if err := c.Mail("ann@customer.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(a.address, nil); !deferred(err) {
		t.Fatalf("RCPT to the flooded inbox past its burst of %d: %v, want 451 4.7.1", inboxBurst, err)
	}
	if err := c.Rcpt(b.address, nil); err != nil {
		t.Fatalf("RCPT to another workspace's inbox during the flood: %v", err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	raw := mailText(dbtest.Unique("both")+"@customer.test", "", "To both", "for both inboxes")
	if _, err := wc.Write([]byte(strings.ReplaceAll(raw, "\n", "\r\n"))); err != nil {
		t.Fatal(err)
	}
	if err := wc.Close(); err != nil {
		t.Fatalf("DATA of a mail whose other recipient was taken: %v", err)
	}
	if n := len(a.messages(t)); n != inboxBurst {
		t.Fatalf("the flooded inbox has %d messages, want its burst of %d", n, inboxBurst)
	}
	if got := b.messages(t); len(got) != 1 || got[0].content != "for both inboxes" {
		t.Fatalf("the other inbox has %+v, want the mail to both", got)
	}
	a.clock.Add(time.Minute / mailserver.DefaultMailsPerInbox)
	if err := sendOn(a.dialFrom(t, "127.0.2.3"), a.address); err != nil {
		t.Fatalf("the flooded inbox after one refill interval: %v", err)
	}
}
