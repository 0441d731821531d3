package widget

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
)

//go:embed assets/widget.js
var appJS []byte

//go:embed assets/loader.js
var loaderJS string

// Version is the widget script's version: the start of its SHA-256, so
// the URL changes exactly when the script does.
var Version = func() string {
	sum := sha256.Sum256(appJS)
	return hex.EncodeToString(sum[:6])
}()

// loaderBody is the loader with the version filled in.
var loaderBody = []byte(strings.ReplaceAll(loaderJS, "{{VERSION}}", Version))

// loader serves /widget.js, the file the embed snippet names: cached for
// five minutes, so a new widget version reaches sites soon.
func (w *Widget) loader(rw http.ResponseWriter, r *http.Request) {
	serveScript(rw, loaderBody, "public, max-age=300")
}

// app serves the widget itself at a URL with its version, cached for a
// year; any other version is 404.
func (w *Widget) app(rw http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") != "widget."+Version+".js" {
		http.Error(rw, "no such widget version; load /widget.js", http.StatusNotFound)
		return
	}
	serveScript(rw, appJS, "public, max-age=31536000, immutable")
}

func serveScript(rw http.ResponseWriter, body []byte, cache string) {
	h := rw.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", cache)
	// Any site may load the script; it carries no data.
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	rw.Write(body)
}
