package oauth

import (
	"encoding/json"
	"net/http"
)

// protectedResource serves the RFC 9728 metadata of /api/mcp, at the root
// well-known path and at the path-suffixed one that the 401's
// resource_metadata names.
func (s *Server) protectedResource(w http.ResponseWriter, r *http.Request) {
	if cors(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":                 s.resource,
		"resource_name":            "Deskwoot MCP server",
		"authorization_servers":    []string{s.base},
		"scopes_supported":         s.cfg.Scopes,
		"bearer_methods_supported": []string{"header"},
	})
}

// authorizationServer serves the RFC 8414 metadata.
func (s *Server) authorizationServer(w http.ResponseWriter, r *http.Request) {
	if cors(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                     s.base,
		"authorization_endpoint":                     s.base + "/oauth/authorize",
		"token_endpoint":                             s.base + "/oauth/token",
		"registration_endpoint":                      s.base + "/oauth/register",
		"revocation_endpoint":                        s.base + "/oauth/revoke",
		"scopes_supported":                           s.cfg.Scopes,
		"response_types_supported":                   []string{"code"},
		"response_modes_supported":                   []string{"query"},
		"grant_types_supported":                      []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":           []string{"S256"},
		"token_endpoint_auth_methods_supported":      []string{"none", "client_secret_post", "client_secret_basic"},
		"revocation_endpoint_auth_methods_supported": []string{"none", "client_secret_post", "client_secret_basic"},
		"client_id_metadata_document_supported":      true,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
