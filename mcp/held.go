package mcp

import (
	"bytes"
	"net/http"
)

// heldResponse is an answer written in full before any of it is sent:
// a request served with a cached principal is answered only once the
// principal is known to be current (see Server.serveCached).
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newHeldResponse() *heldResponse { return &heldResponse{header: http.Header{}} }

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

// Flush does nothing: a held answer goes out whole, at sendTo.
func (h *heldResponse) Flush() {}

// sendTo writes the held answer to w.
func (h *heldResponse) sendTo(w http.ResponseWriter) {
	for k, v := range h.header {
		w.Header()[k] = v
	}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	w.WriteHeader(h.status)
	w.Write(h.body.Bytes())
}
