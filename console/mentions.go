package console

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
)

// The composer offers teammates' names when a person types @ (DESIGN §18:
// "mentioned with @name in a private note (the composer offers names)").
// It reads them once, from mentionsJSON, as it reads canned responses.

// mentionable is what desk's mention rule matches a handle against: a
// person's name without its spaces (desk.mentioned), in the characters
// a mention may hold.
var mentionable = regexp.MustCompile(`^[\p{L}\p{N}._-]{1,64}$`)

// mention is one teammate the composer offers.
type mention struct {
	Name   string `json:"name"`
	Handle string `json:"handle"` // what to type after @
}

// mentionsJSON lists the workspace's active people a note can mention.
// The AI agent's service account is no one to mention; a name the
// mention rule cannot spell is left out.
func (c *Console) mentionsJSON(w http.ResponseWriter, r *http.Request) {
	agents, _, err := c.cfg.Desk.People(r.Context(), c.request(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	people := []mention{}
	for _, a := range agents {
		handle := strings.ReplaceAll(a.Name, " ", "")
		if a.Kind != "human" || !mentionable.MatchString(handle) {
			continue
		}
		people = append(people, mention{Name: a.Name, Handle: handle})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"people": people})
}
