package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/deskwoot/deskwoot/tenancy"
	"github.com/deskwoot/deskwoot/tenantpolicy"
)

// The Policy page and the explanation of an audit row (DESIGN §17): what a
// security team reads without the source tree. Read-only; the account's
// own rules are submitted and activated through the REST API.

// policyView is the policy in force, with the account's latest shadow
// and the newest calls its candidates in shadow would have decided
// differently.
type policyView struct {
	tenantpolicy.View
	Shadow tenantpolicy.ShadowFlips
	Now    time.Time
}

func (c *Console) policyPage(w http.ResponseWriter, r *http.Request) {
	acct := c.me(r).AccountID
	v, err := tenantpolicy.Show(r.Context(), c.cfg.DB, c.cfg.Policy, acct)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	sh, err := tenantpolicy.ShadowList(r.Context(), c.cfg.DB, acct, "", 0)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "policy", Page{Title: "Policy", Nav: "policy", Data: policyView{View: v, Shadow: sh, Now: time.Now()}})
}

// explanationView is an explanation with its input indented for reading.
type explanationView struct {
	tenantpolicy.Explanation
	InputText string
}

func (c *Console) explanationPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.renderError(w, r, http.StatusNotFound, "There is no audit entry "+r.PathValue("id")+".")
		return
	}
	x, err := tenantpolicy.Explain(r.Context(), c.cfg.DB, c.me(r).AccountID, id)
	if errors.Is(err, tenancy.ErrNotFound) {
		c.renderError(w, r, http.StatusNotFound, "There is no audit entry "+strconv.FormatInt(id, 10)+".")
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := explanationView{Explanation: x}
	if len(x.Input) > 0 && string(x.Input) != "null" {
		var buf bytes.Buffer
		if json.Indent(&buf, x.Input, "", "  ") == nil {
			v.InputText = buf.String()
		}
	}
	c.render(w, r, http.StatusOK, "explanation", Page{Title: "Why audit entry " + strconv.FormatInt(id, 10), Nav: "audit", Data: v})
}
