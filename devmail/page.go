package devmail

import (
	"bytes"
	"html/template"
	"net/http"
	"regexp"
	"strings"
)

// Handler serves the mailbox page (GET /dev/mail): every mail received,
// newest first, with the links into this Deskwoot (publicURL) clickable.
// Everything shown is escaped by html/template.
func (b *Box) Handler(publicURL string) http.Handler {
	base := strings.TrimRight(publicURL, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the mailbox is read-only", http.StatusMethodNotAllowed)
			return
		}
		type shown struct {
			Mail
			Parts []part
		}
		var d struct {
			Relay string
			Mails []shown
		}
		d.Relay = b.RelayURL()
		for _, m := range b.Mails() {
			d.Mails = append(d.Mails, shown{Mail: m, Parts: linkify(m.Body, base)})
		}
		var buf bytes.Buffer
		if err := page.Execute(&buf, d); err != nil {
			http.Error(w, "the mailbox page could not be shown", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		w.Write(buf.Bytes())
	})
}

// part is a stretch of a mail's text: a link into Deskwoot, or plain text.
type part struct {
	Text string
	Link bool
}

var urlRE = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify cuts body into text and the links that start with base.
func linkify(body, base string) []part {
	var out []part
	at := 0
	for _, loc := range urlRE.FindAllStringIndex(body, -1) {
		u := body[loc[0]:loc[1]]
		if base == "" || !strings.HasPrefix(u, base+"/") {
			continue
		}
		out = append(out, part{Text: body[at:loc[0]]}, part{Text: u, Link: true})
		at = loc[1]
	}
	return append(out, part{Text: body[at:]})
}

var page = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Local mailbox · Deskwoot dev</title>
<link rel="stylesheet" href="/static/console.css">
</head>
<body class="signed-out">
<main id="main" class="mailbox">
<p class="brand">Deskwoot</p>
<h1>Local mailbox</h1>
<p>Under <code>deskwoot dev</code>, mail to people (invitations, password resets, notifications) goes to this mailbox ({{.Relay}}) instead of the world. It keeps the last 200 mails until the server stops. <a href="/dev/mail">Refresh</a></p>
{{range .Mails}}
<article class="panel mail">
  <h2>{{.Subject}}</h2>
  <dl>
    <dt>To</dt><dd>{{range $i, $t := .To}}{{if $i}}, {{end}}{{$t}}{{end}}</dd>
    <dt>From</dt><dd>{{.From}}</dd>
    <dt>Received</dt><dd>{{.Received.UTC.Format "2006-01-02 15:04:05 UTC"}}</dd>
    <dt>Message-ID</dt><dd>{{.MessageID}}</dd>
  </dl>
  <pre class="mail-body">{{range .Parts}}{{if .Link}}<a href="{{.Text}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end}}</pre>
</article>
{{else}}
<p class="panel">No mail yet. Invite someone from Settings → Team, or use "Forgot password?" on the sign-in page.</p>
{{end}}
</main>
</body>
</html>
`))
