package console

import (
	"encoding/json"
	"net/http"

	"github.com/deskwoot/deskwoot/desk"
)

// The composer offers teammates' names when a person types @ (DESIGN §18:
// "mentioned with @name in a private note (the composer offers names)").
// It reads them once, from mentionsJSON, as it reads canned responses.

// mention is one teammate the composer offers.
type mention struct {
	Name   string `json:"name"`
	Handle string `json:"handle"` // what to type after @ (desk.MentionHandle)
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
		handle, ok := desk.MentionHandle(a.Name)
		if a.Kind != "human" || !ok {
			continue
		}
		people = append(people, mention{Name: a.Name, Handle: handle})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"people": people})
}
