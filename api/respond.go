package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/deskwoot/deskwoot/fault"
	"github.com/deskwoot/deskwoot/input"
	"github.com/deskwoot/deskwoot/policy"
	"github.com/deskwoot/deskwoot/throttle"
)

// MaxBody bounds every request body.
const MaxBody = 1 << 20

// apiError is the one error shape of the REST API.
type apiError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is sent as Retry-After (whole seconds, at least 1) on a 429.
	RetryAfter time.Duration
}

// tooMany is a 429 that says when to come back, in words and in Retry-After.
func tooMany(wait time.Duration, format string, args ...any) *apiError {
	e := errorf(http.StatusTooManyRequests, "rate_limited", format, args...)
	e.RetryAfter = wait
	return e
}

// retrySeconds rounds a wait up to whole seconds, at least one.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// statuses maps each domain error kind to its HTTP status and code; the
// one place that does.
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

// writeError is the one place that maps errors to HTTP answers: the door's
// own (*apiError) as they are, domain errors by kind, anything else as a
// logged 500 that shows no cause.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var rule *policy.RuleError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &rule): // an account's policy module, rejected with its line
		ae = errorf(http.StatusBadRequest, "bad_request", "%s", rule.Error())
	default:
		fe := fault.From(err)
		st, ok := statuses[fe.Kind]
		if fe.Kind == fault.Unavailable {
			slog.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		if !ok {
			slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			st.status, st.code = http.StatusInternalServerError, "internal"
		}
		ae = errorf(st.status, st.code, "%s", fe.Sentence)
	}
	if ae.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(ae.RetryAfter)))
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="deskwoot"`)
	}
	if ae.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, ae.Status, map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}})
}

// decodeJSONOnly is decode for a body that must be declared as JSON: it
// refuses any other (415). A browser form on another site can post
// text/plain or form data without a preflight, never application/json:
// signup, sign-in and the mailed links' REST doors take only JSON so that
// no page can create accounts or sign in in a visitor's name.
func decodeJSONOnly(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
	}
	return decode(w, r, v)
}

// decode reads a JSON body into v, bounded and strict about its shape.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "request body is larger than %d bytes", MaxBody)
		case errors.Is(err, io.EOF):
			return errorf(http.StatusBadRequest, "bad_request", "request body is empty; send a JSON object")
		case errors.As(err, &syn):
			return errorf(http.StatusBadRequest, "bad_request", "malformed JSON at byte %d: %v", syn.Offset, err)
		case errors.As(err, &typ):
			return errorf(http.StatusBadRequest, "bad_request", "field %q must be %s", typ.Field, typ.Type)
		default:
			return errorf(http.StatusBadRequest, "bad_request", "invalid JSON body: %v", err)
		}
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "bad_request", "request body must be a single JSON object")
	}
	// Every text in every body passes the one input layer: valid UTF-8, no
	// NUL, bounded (by the field's max tag, else input.MaxText).
	return input.Struct(v)
}

// checkQuery puts every query parameter through the input layer before a
// handler reads it: search text, filters and cursors are bounded text.
func checkQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name, vals := range r.URL.Query() {
			if err := input.Text("query parameter", name, input.MaxAttrKey); err != nil {
				writeError(w, r, err)
				return
			}
			for _, v := range vals {
				if err := input.Text(name, v, input.MaxQuery); err != nil {
					writeError(w, r, err)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// rateHeaders says what a request left of the limit it spent (sign-in,
// signup, password reset): X-RateLimit-Limit, -Remaining and -Reset, the
// seconds until the limit is whole again.
func rateHeaders(w http.ResponseWriter, q throttle.Quota) {
	w.Header().Set("X-RateLimit-Limit", strconv.Itoa(q.Limit))
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(q.Remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.Itoa(int(math.Ceil(q.Reset.Seconds()))))
}
