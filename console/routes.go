package console

import (
	"io/fs"
	"net/http"
)

// routes is the console's route table, readable top to bottom. Patterns
// are net/http's ("METHOD /path/{id}"); the access level runs first.
func (c *Console) routes() {
	static, _ := fs.Sub(files, "static")
	c.mux.Handle("GET /static/", c.staticFiles(http.StripPrefix("/static/", http.FileServerFS(static))))

	c.handle("GET /signup", public, c.signupPage)
	c.handle("POST /signup", public, c.signup)
	c.handle("GET /signin", public, c.signinPage)
	c.handle("POST /signin", public, c.signin)
	c.handle("POST /signout", public, c.signout)

	c.handle("GET /{$}", member, c.home)

	c.handle("GET /", public, c.notFound)
}

// staticFiles serves the embedded CSS and scripts; links carry a content
// hash (?v=), so browsers may keep them.
func (c *Console) staticFiles(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	if _, _, err := c.authenticate(r); err == nil {
		// Signed in: show the page inside the navigation.
		c.guard(member, func(w http.ResponseWriter, r *http.Request) {
			c.renderError(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
		})(w, r)
		return
	}
	c.renderError(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
}
