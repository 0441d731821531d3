package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
)

// ParseContent parses another door's page (a template defining "content",
// as the console's own pages do) into a copy of the console's layout, so
// that pages served outside the console, such as the OAuth consent page,
// look like the console.
func (c *Console) ParseContent(fsys fs.FS, patterns ...string) (*template.Template, error) {
	clone, err := c.pages.base.Clone()
	if err != nil {
		return nil, err
	}
	return clone.ParseFS(fsys, patterns...)
}

// RenderContent renders a page parsed by ParseContent. The page sees what
// console pages see (.Title, and its own data in .Data), in the layout's
// signed-out frame: such pages are reached outside the console's routes.
func (c *Console) RenderContent(w http.ResponseWriter, r *http.Request, status int, t *template.Template, title string, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", view{Page: Page{Title: title, Data: data}}); err != nil {
		c.fail(w, r, fmt.Errorf("console: render %s: %w", title, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
