package outbox

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deskwoot/deskwoot/desk"
	"github.com/deskwoot/deskwoot/egress"
)

// TestSMTPToInternalAddressesFailsLikeAClosedPort: with production defaults
// an email inbox whose smtp_host is 127.0.0.1, localhost or 0.0.0.0 makes
// no connection, whatever the port, and the error it records is the same
// text as for a closed port, and retried the same way: nothing tells an
// open internal port from a refused one. (On the old code the server
// connected, and "SMTP HELO: EOF" told an open port from "connection
// refused".)
func TestSMTPToInternalAddressesFailsLikeAClosedPort(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close() // an open port that speaks no SMTP: "EOF" before the fix
		}
	}()
	open := ln.Addr().(*net.TCPAddr).Port
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().(*net.TCPAddr).Port
	closedLn.Close()

	outbox := func(allowPrivate bool) *Outbox {
		return &Outbox{cfg: Config{SMTPTimeout: 5 * time.Second, Logger: slog.Default()}, dialer: egress.Dialer{AllowPrivate: allowPrivate}}
	}
	to := "ann@customer.test"
	delivery := func(host string, port int) desk.Delivery {
		return desk.Delivery{InboxName: "Support", Message: desk.Message{ID: 7, Content: "hi"}, Contact: desk.Contact{ID: 1, Email: &to},
			Email: desk.EmailSettings{SMTPHost: host, SMTPPort: port, FromAddress: "support@acme.test"}}
	}
	text := func(err error, host string, port int) string {
		if err == nil {
			t.Fatalf("%s:%d: sent", host, port)
		}
		var perm permanentError
		if errors.As(err, &perm) {
			t.Errorf("%s:%d: %v is permanent; a closed port is retried", host, port, err)
		}
		return strings.ReplaceAll(err.Error(), net.JoinHostPort(host, strconv.Itoa(port)), "HOST:PORT")
	}

	_, err = outbox(true).sendEmail(ctx, delivery("127.0.0.1", closed), "TOKEN")
	want := text(err, "127.0.0.1", closed)
	if want != "could not connect to the SMTP server at HOST:PORT; check smtp_host and smtp_port" {
		t.Fatalf("closed port: %q", want)
	}
	for _, host := range []string{"127.0.0.1", "localhost", "0.0.0.0"} {
		for _, port := range []int{open, closed} {
			_, err := outbox(false).sendEmail(ctx, delivery(host, port), "TOKEN")
			if got := text(err, host, port); got != want {
				t.Errorf("%s:%d: %q, want the closed port's %q", host, port, got, want)
			}
			if !errors.Is(err, egress.ErrInternalAddress) {
				t.Errorf("%s:%d: the cause for the log is %v", host, port, cause(err))
			}
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the internal port took %d connections", n)
	}
	// The same open port with private addresses allowed is reached: the
	// listener above would have seen the refused connections.
	if _, err := outbox(true).sendEmail(ctx, delivery("127.0.0.1", open), "TOKEN"); err == nil || accepted.Load() == 0 {
		t.Fatalf("allowed dial: %v, %d connections", err, accepted.Load())
	}
}
