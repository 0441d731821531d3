package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetadataDocumentOnAnInternalAddress: without the loopback option, a
// client ID metadata document is fetched through the egress guard, which
// refuses internal addresses even over https.
func TestMetadataDocumentOnAnInternalAddress(t *testing.T) {
	fetched := false
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched = true
		w.Write([]byte(`{"client_id": "` + "https://" + r.Host + r.URL.Path + `", "redirect_uris": ["https://a.example/cb"]}`))
	}))
	defer srv.Close()
	cs := newClients(nil, []string{"conversations:read"}, false, nil)
	for _, id := range []string{srv.URL + "/client.json", "https://localhost:1/client.json", "https://10.0.0.1:1/client.json"} {
		_, err := cs.get(context.Background(), id)
		if err == nil || !strings.Contains(err.Error(), "internal address") {
			t.Errorf("%s: %v, want a refusal of the internal address", id, err)
		}
	}
	if fetched {
		t.Error("the document on the internal address was fetched")
	}
	// Plain http is refused outright, loopback or not.
	if _, err := cs.get(context.Background(), "http://127.0.0.1:1/client.json"); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http metadata URL: %v", err)
	}
}
