package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/deskwoot/deskwoot/policy"
	policies "github.com/deskwoot/deskwoot/rego"
)

// decisionInput is the common path: an inbox-restricted token reading a
// conversation in one of its inboxes, as the MCP server asks it.
func decisionInput() policy.Input {
	now := time.Now().UTC()
	trial := now.Add(72 * time.Hour)
	return policy.Input{
		Principal: policy.Principal{AccountID: 1, TokenID: 7, Scopes: []string{"conversations:read", "conversations:reply", "conversations:note"}, InboxIDs: []int64{3, 4}},
		Account:   policy.Account{Plan: "enterprise", Status: "trialing", TrialEndsAt: &trial, MCPEnabled: true},
		Tool:      "get_conversation",
		Args:      map[string]any{"conversation_id": float64(12), "messages_limit": float64(20)},
		Target:    policy.Target{Kind: "conversation", ConversationID: 12, InboxID: 4, ContactID: 9},
		Now:       now,
	}
}

// decisionStats measures the embedded tool decision, one call at a time.
func decisionStats(ctx context.Context, e *policy.Engine, d time.Duration) stats {
	in := decisionInput()
	return run(ctx, 1, d/5, d, func(ctx context.Context, _, _ int) error {
		dec, err := e.Decide(ctx, in)
		if err == nil && !dec.Allow {
			err = fmt.Errorf("decision denied: %v", dec.Reasons)
		}
		return err
	})
}

// floorStats measures OPA's fixed cost on this machine: a one-rule policy,
// prepared once with the same engine, on the same input document already
// converted (the cheapest way to hand OPA an input).
func floorStats(ctx context.Context, d time.Duration) (stats, error) {
	pq, err := rego.New(rego.Query("data.floor.allow"),
		rego.Module("floor.rego", "package floor\n\nallow if input.tool == \"get_conversation\"\n")).PrepareForEval(ctx)
	if err != nil {
		return stats{}, err
	}
	raw, _ := json.Marshal(decisionInput())
	var doc any
	json.Unmarshal(raw, &doc)
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return stats{}, err
	}
	return run(ctx, 1, d/5, d, func(ctx context.Context, _, _ int) error {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(v))
		if err == nil && !rs.Allowed() {
			err = fmt.Errorf("the one-rule policy did not allow")
		}
		return err
	}), nil
}

// opaServerStats measures the same decision through OPA's own server
// (`opa run --server`, a separate process started here: see opaserver.go)
// over loopback HTTP: the policies written to a folder, one POST per
// decision.
func opaServerStats(ctx context.Context, opaBin string, log io.Writer, d time.Duration) (stats, error) {
	dir, err := os.MkdirTemp("", "deskwoot-bench-opa-")
	if err != nil {
		return stats{}, err
	}
	defer os.RemoveAll(dir)
	policyDir := filepath.Join(dir, "policies")
	if err := os.Mkdir(policyDir, 0o700); err != nil {
		return stats{}, err
	}
	names, _ := fs.Glob(policies.FS, "*.rego")
	for _, n := range names {
		if strings.HasSuffix(n, "_test.rego") {
			continue
		}
		b, _ := fs.ReadFile(policies.FS, n)
		if err := os.WriteFile(filepath.Join(policyDir, n), b, 0o600); err != nil {
			return stats{}, err
		}
	}
	// data.json (the plan list) loads at the data root, as `opa test rego/` loads it.
	b, _ := fs.ReadFile(policies.FS, "data.json")
	if err := os.WriteFile(filepath.Join(policyDir, "data.json"), b, 0o600); err != nil {
		return stats{}, err
	}
	bin, err := opaExecutable(ctx, opaBin, log)
	if err != nil {
		return stats{}, err
	}
	srv, err := startOPA(ctx, bin, policyDir, filepath.Join(dir, "opa.log"))
	if err != nil {
		return stats{}, err
	}
	defer srv.stop()

	body, _ := json.Marshal(map[string]any{"input": decisionInput()})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	url := srv.url + "/v1/data/deskwoot/authz/decision"
	decide := func(ctx context.Context, _, _ int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Result struct {
				Allow bool `json:"allow"`
			} `json:"result"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || !out.Result.Allow {
			return fmt.Errorf("opa server: HTTP %d, allow=%v, %v", resp.StatusCode, out.Result.Allow, err)
		}
		return nil
	}
	if err := decide(ctx, 0, 0); err != nil {
		return stats{}, err
	}
	return run(ctx, 1, d/5, d, decide), nil
}
