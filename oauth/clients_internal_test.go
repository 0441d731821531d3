package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetadataDocumentOnAnInternalAddress: without the loopback option, a
// client ID metadata document is fetched through the egress guard, which
// refuses internal addresses even over https, and the refusal reads like
// any other failure.
func TestMetadataDocumentOnAnInternalAddress(t *testing.T) {
	fetched := false
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched = true
		w.Write([]byte(`{"client_id": "` + "https://" + r.Host + r.URL.Path + `", "redirect_uris": ["https://a.example/cb"]}`))
	}))
	defer srv.Close()
	cs := newClients(nil, []string{"conversations:read"}, false, nil)
	for _, id := range []string{srv.URL + "/client.json", "https://localhost:1/client.json", "https://10.0.0.1:1/client.json"} {
		if err := cs.resolve(context.Background(), id, "test"); !errors.Is(err, errMetadataUnusable) {
			t.Errorf("%s: %v, want %v", id, err, errMetadataUnusable)
		}
		if _, err := cs.get(context.Background(), id); !errors.Is(err, errMetadataUnusable) {
			t.Errorf("%s looked up after the refusal: %v", id, err)
		}
	}
	if fetched {
		t.Error("the document on the internal address was fetched")
	}
	// Plain http is refused outright, loopback or not.
	if err := cs.resolve(context.Background(), "http://127.0.0.1:1/client.json", "test"); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http metadata URL: %v", err)
	}
}

// TestGetNeverFetches: fosite's look-up of a metadata document client
// reads the cache only; a document no resolve fetched is not fetched.
func TestGetNeverFetches(t *testing.T) {
	fetched := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched++
		w.Write([]byte(`{"client_id": "http://` + r.Host + r.URL.Path + `", "redirect_uris": ["https://a.example/cb"]}`))
	}))
	defer srv.Close()
	cs := newClients(nil, []string{"conversations:read"}, true, nil)
	id := srv.URL + "/client.json"
	if _, err := cs.get(context.Background(), id); !errors.Is(err, errMetadataUnusable) || fetched != 0 {
		t.Fatalf("get before resolve: %v, %d fetches", err, fetched)
	}
	if err := cs.resolve(context.Background(), id, "test"); err != nil {
		t.Fatal(err)
	}
	if c, err := cs.get(context.Background(), id); err != nil || c.GetID() != id || fetched != 1 {
		t.Fatalf("get after resolve: %v, %v, %d fetches", c, err, fetched)
	}
}
