package widget

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/input"
)

// limited is a 429 with the wait it asks for.
type limited struct {
	wait time.Duration
	msg  string
}

func (e *limited) Error() string { return e.msg }

func tooMany(wait time.Duration, msg string) error { return &limited{wait: wait, msg: msg} }

// statuses maps the domain's error kinds to HTTP, as the REST API does.
var statuses = map[fault.Kind]struct {
	status int
	code   string
}{
	fault.Invalid:         {http.StatusBadRequest, "bad_request"},
	fault.NotFound:        {http.StatusNotFound, "not_found"},
	fault.Conflict:        {http.StatusConflict, "conflict"},
	fault.Unauthenticated: {http.StatusUnauthorized, "unauthorized"},
	fault.Forbidden:       {http.StatusForbidden, "forbidden"},
	fault.TooLarge:        {http.StatusRequestEntityTooLarge, "payload_too_large"},
	fault.RateLimited:     {http.StatusTooManyRequests, "rate_limited"},
	fault.Unavailable:     {http.StatusServiceUnavailable, "unavailable"},
}

// writeError answers with the API's one error shape, {"error": {"code",
// "message"}}; anything unexpected is a logged 500 that shows no cause.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var lim *limited
	if errors.As(err, &lim) {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(lim.wait.Seconds())))))
		writeJSON(w, http.StatusTooManyRequests, errBody("rate_limited", lim.msg))
		return
	}
	fe := fault.From(err)
	st, ok := statuses[fe.Kind]
	if !ok {
		slog.ErrorContext(r.Context(), "widget request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		st.status, st.code = http.StatusInternalServerError, "internal"
	}
	if fe.Kind == fault.Unavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, st.status, errBody(st.code, fe.Sentence))
}

func errBody(code, msg string) map[string]any {
	return map[string]any{"error": map[string]string{"code": code, "message": msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a bounded JSON body, strict about its shape, and puts
// every text through the input layer (valid UTF-8, no NUL, max tags).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return fault.Invalidf("", "send the body as JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return fault.New(fault.TooLarge, "", "request body is larger than %d bytes", maxBody)
		case errors.Is(err, io.EOF):
			return fault.Invalidf("", "request body is empty; send a JSON object")
		default:
			return fault.Invalidf("", "invalid JSON body: %v", err)
		}
	}
	if dec.More() {
		return fault.Invalidf("", "request body must be a single JSON object")
	}
	return input.Struct(v)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
