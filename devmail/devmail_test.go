package devmail_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/deskwoot/deskwoot/devmail"
)

func TestMailboxKeepsMailAndShowsItEscaped(t *testing.T) {
	box, err := devmail.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	addr := strings.TrimPrefix(box.RelayURL(), "smtp://")
	msg := "From: desk@deskwoot.test\r\nTo: ann@example.com\r\nSubject: <script>alert(1)</script> Invitation\r\n" +
		"Message-ID: <m1@deskwoot.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Join: http://desk.test/invite/abc123\r\nElsewhere: http://evil.test/x <b>bold</b>\r\n"
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("desk@deskwoot.test", []string{"ann@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	m, ok := box.Wait(5*time.Second, func(m devmail.Mail) bool { return strings.Contains(m.Subject, "Invitation") })
	if !ok || m.MessageID != "m1@deskwoot.test" || !strings.Contains(m.Body, "http://desk.test/invite/abc123") {
		t.Fatalf("mail = %+v (found %v)", m, ok)
	}
	srv := httptest.NewServer(box.Handler("http://desk.test"))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(b)
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt; Invitation",
		`<a href="http://desk.test/invite/abc123">http://desk.test/invite/abc123</a>`,
		"http://evil.test/x &lt;b&gt;bold&lt;/b&gt;", // not ours: shown, not linked
		"ann@example.com",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, `href="http://evil.test`) {
		t.Fatalf("page shows mail content unescaped or links elsewhere:\n%s", page)
	}
	if res, _ := http.Post(srv.URL, "text/plain", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST = %d", res.StatusCode)
	}
}
