package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// This file holds the wire format Camunda 7 clients depend on: dates,
// typed variables, IDs as strings, and errors.

// jtime is a time as Camunda writes it: milliseconds and a numeric offset,
// never "Z"; null when zero.
type jtime time.Time

func (t jtime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.Format(engine.TimeLayout) + `"`), nil
}

func (t *jtime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = jtime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	tt, err := engine.ParseTime(s)
	if err != nil {
		return err
	}
	*t = jtime(tt)
	return nil
}

// id renders an ID as clients expect: a decimal string.
func id(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

// idOrNull renders an optional ID: null when absent.
func idOrNull(v int64) *string {
	if v == 0 {
		return nil
	}
	s := id(v)
	return &s
}

// parseID reads an ID from a path or filter value.
func parseID(s, what string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: %s %q is not an ID (IDs are decimal numbers)", engine.ErrInvalid, what, s)
	}
	return n, nil
}

// variable is a typed variable on the wire.
type variable struct {
	Value     any            `json:"value"`
	Type      string         `json:"type"`
	ValueInfo map[string]any `json:"valueInfo"`
}

// wireVar renders a value.
func wireVar(v engine.Value) variable {
	out := variable{Type: string(v.Type), ValueInfo: map[string]any{}}
	switch v.Type {
	case engine.TypeDate:
		if t, ok := v.V.(time.Time); ok {
			out.Value = t.Format(engine.TimeLayout)
		}
	case engine.TypeJSON:
		b, _ := json.Marshal(v.V)
		out.Value = string(b)
	default:
		out.Value = v.V
	}
	return out
}

func wireVars(vs map[string]engine.Value) map[string]variable {
	out := make(map[string]variable, len(vs))
	for k, v := range vs {
		out[k] = wireVar(v)
	}
	return out
}

// inVar is a typed variable as clients send it: any case for the type,
// valueInfo with null members, or no type at all.
type inVar struct {
	Value     json.RawMessage `json:"value"`
	Type      string          `json:"type"`
	ValueInfo map[string]any  `json:"valueInfo"`
}

// decode turns a wire variable into an engine value.
func (v inVar) decode(name string) (engine.Value, error) {
	raw := bytes.TrimSpace(v.Value)
	var x any
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&x); err != nil {
			return engine.Value{}, fmt.Errorf("%w: variable %q: value is not JSON", engine.ErrInvalid, name)
		}
	}
	if v.Type == "" {
		return inferVar(name, x)
	}
	t, err := engine.ParseValueType(v.Type)
	if err != nil {
		return engine.Value{}, fmt.Errorf("variable %q: %w", name, err)
	}
	if strings.EqualFold(v.Type, "object") {
		if f, _ := v.ValueInfo["serializationDataFormat"].(string); f != "" && f != "application/json" {
			return engine.Value{}, fmt.Errorf("%w: variable %q: Object values in %q cannot be read; send Json", engine.ErrInvalid, name, f)
		}
	}
	if n, ok := x.(json.Number); ok {
		if t == engine.TypeDouble {
			f, _ := n.Float64()
			x = f
		} else if i, err := n.Int64(); err == nil {
			x = i
		} else if f, err := n.Float64(); err == nil {
			x = f
		}
	}
	val, err := engine.Typed(t, x)
	if err != nil {
		return engine.Value{}, fmt.Errorf("variable %q: %w", name, err)
	}
	return val, nil
}

func inferVar(name string, x any) (engine.Value, error) {
	if n, ok := x.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return engine.ValueOf(i)
		}
		f, _ := n.Float64()
		return engine.ValueOf(f)
	}
	v, err := engine.ValueOf(x)
	if err != nil {
		return engine.Value{}, fmt.Errorf("variable %q: %w", name, err)
	}
	return v, nil
}

func decodeVars(in map[string]inVar) (map[string]engine.Value, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]engine.Value, len(in))
	for k, v := range in {
		val, err := v.decode(k)
		if err != nil {
			return nil, err
		}
		out[k] = val
	}
	return out, nil
}

// readJSON decodes a request body; an empty body leaves dst unchanged. The
// body is bounded by its route's limit (see Limits).
func readJSON(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: request body larger than %d bytes", errTooLarge, mbe.Limit)
		}
		return badRequest("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%w: request body is not valid JSON for this call: %v", engine.ErrInvalid, err)
	}
	return nil
}

// apiError is the Camunda error body.
type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Code    *int   `json:"code,omitempty"`
}

// httpError maps an error to a status, a Camunda exception type and a
// message safe to show: the messages of the sentinel errors say what is
// wrong in the request; anything else is an internal error whose detail
// stays in the log.
func httpError(err error) (int, apiError) {
	msg := err.Error()
	switch {
	case errors.Is(err, errSessionEnded):
		return http.StatusUnauthorized, apiError{"AuthenticationException", "the console session has ended; sign in again", nil}
	case errors.Is(err, security.ErrUnauthenticated):
		return http.StatusUnauthorized, apiError{"AuthenticationException", "authentication required: use HTTP Basic or a bearer token", nil}
	case errors.Is(err, security.ErrTooManyAttempts):
		return http.StatusTooManyRequests, apiError{"AuthenticationException", msg, nil}
	case errors.Is(err, errLimited):
		return http.StatusTooManyRequests, apiError{"QuotaExceededException", msg, nil}
	case errors.Is(err, security.ErrForbidden), errors.Is(err, security.ErrNoMembership):
		return http.StatusForbidden, apiError{"AuthorizationException", msg, nil}
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, datasource.ErrNotFound), errors.Is(err, datasource.ErrUnknownTenant):
		return http.StatusNotFound, apiError{"InvalidRequestException", msg, nil}
	case errors.Is(err, engine.ErrNoCorrelation), errors.Is(err, engine.ErrAmbiguousCorrelation):
		return http.StatusBadRequest, apiError{"RestException", msg, nil}
	case errors.Is(err, engine.ErrInvalid), errors.Is(err, datasource.ErrInvalid), errors.Is(err, engine.ErrWrongTenant),
		errors.Is(err, datasource.ErrInvalidTenantID):
		return http.StatusBadRequest, apiError{"InvalidRequestException", msg, nil}
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest, apiError{"InvalidRequestException", msg, nil}
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, apiError{"InvalidRequestException", msg, nil}
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType, apiError{"InvalidRequestException", msg, nil}
	case errors.Is(err, errStateConflict):
		return http.StatusConflict, apiError{"ConflictException", msg, nil}
	case errors.Is(err, engine.ErrSuspended):
		return http.StatusInternalServerError, apiError{"SuspendedEntityInteractionException", msg, nil}
	case errors.Is(err, engine.ErrConflict), errors.Is(err, datasource.ErrConflict):
		return http.StatusInternalServerError, apiError{"OptimisticLockingException", msg, nil}
	case errors.Is(err, datasource.ErrTenantDisabled):
		return http.StatusForbidden, apiError{"AuthorizationException", msg, nil}
	case errors.Is(err, datasource.ErrPrimaryUnavailable):
		return http.StatusServiceUnavailable, apiError{"ServiceUnavailable", "the directory of users and tenants (the primary datasource) is unavailable; retry later", nil}
	case errors.Is(err, datasource.ErrTenantUnavailable), errors.Is(err, datasource.ErrSchemaMismatch):
		return http.StatusServiceUnavailable, apiError{"ServiceUnavailable", "the tenant's storage is unavailable; retry later", nil}
	}
	if errors.Is(err, errModel) {
		return http.StatusBadRequest, apiError{"ParseException", msg, nil}
	}
	return http.StatusInternalServerError, apiError{"ProcessEngineException", "internal error", nil}
}

// retryAfterOf tells how long a refused caller should wait, for the
// Retry-After header of a 429 (or a 503 that knows).
func retryAfterOf(err error) (time.Duration, bool) {
	var tm *security.TooManyAttemptsError
	if errors.As(err, &tm) {
		return max(tm.RetryAfter, time.Second), true
	}
	var le *limitError
	if errors.As(err, &le) {
		return max(le.retryAfter, time.Second), true
	}
	return 0, false
}

// errBadRequest marks a malformed request detected by the server.
var errBadRequest = errors.New("bad request")

// errStateConflict marks an admin change that conflicts with what exists
// (a tenant's status, another tenant's storage): 409, where the engine's
// own conflicts keep Camunda's 500 OptimisticLockingException.
var errStateConflict = errors.New("conflict with the current state")

// adminConflict turns a datasource conflict into a 409.
func adminConflict(err error) error {
	if errors.Is(err, datasource.ErrConflict) {
		return fmt.Errorf("%w: %w", errStateConflict, err)
	}
	return err
}

// errTooLarge marks a request body over its route's limit (413).
var errTooLarge = errors.New("request too large")

// errUnsupportedMedia marks a body in a content type the route does not
// take (415).
var errUnsupportedMedia = errors.New("unsupported media type")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// errModel wraps deployment model errors (see deploy handler).
var errModel = errors.New("invalid process model")

// writeError writes an error response and reports whether the error is the
// server's (5xx), for logging.
func writeError(w http.ResponseWriter, err error) int {
	status, body := httpError(err)
	if status == http.StatusUnauthorized && !errors.Is(err, errSessionEnded) {
		w.Header().Set("WWW-Authenticate", `Basic realm="tenantflow"`)
	}
	if d, ok := retryAfterOf(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
	writeJSON(w, status, body)
	return status
}
