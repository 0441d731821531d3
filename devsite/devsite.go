// Package devsite is the customer's side of `deskwoot dev`: a small shop
// page on its own origin (another port) that embeds the demo's website
// inbox with its snippet, as a workspace's own site would. A newcomer
// opens it, chats, and watches the conversation (and the agent's answer)
// in the console.
package devsite

import (
	"html/template"
	"net"
	"net/http"
	"time"
)

// Site is the running test page.
type Site struct {
	ln  net.Listener
	srv *http.Server
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Store — a test page for the Deskwoot chat</title>
<style>
body { font: 17px/1.5 Georgia, serif; margin: 0; color: #222; background: #faf7f2; }
header { background: #3b2f2f; color: #fff; padding: 18px 28px; }
main { max-width: 720px; padding: 24px 28px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
/* Hostile styles a real site may have: the widget must not inherit them. */
button { background: hotpink; font-size: 30px; }
input, textarea, label { font-family: "Comic Sans MS", cursive; color: green; }
</style>
</head>
<body>
<header><strong>Acme Store</strong> — a test page on another origin</header>
<main>
<h1>Welcome to the Acme Store</h1>
<p>This page stands in for your own website: it embeds the chat widget of the demo's
"Website chat" inbox with the snippet from the inbox's settings. Open the chat
with the button at the bottom right, search the help center, write, and watch
the conversation arrive in the console. Replies from people and from your AI
agent appear here without a reload.</p>
<p>The snippet on this page:</p>
<pre>{{.Snippet}}</pre>
</main>
{{.Tag}}
</body>
</html>
`))

// Start serves the test page on addr ("127.0.0.1:0" picks a port); snippet
// is the inbox's embed snippet, put into the page as it is.
func Start(addr, snippet string) (*Site, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The snippet is the operator's own markup (from the inbox's
		// settings), trusted like a site owner pasting it.
		page.Execute(w, map[string]any{"Snippet": snippet, "Tag": template.HTML(snippet)})
	})
	s := &Site{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the page's address; Origin is what its requests send as Origin.
func (s *Site) URL() string { return s.Origin() + "/" }

// Origin is the page's origin.
func (s *Site) Origin() string { return "http://" + s.ln.Addr().String() }

// Close stops serving.
func (s *Site) Close() error { return s.srv.Close() }
