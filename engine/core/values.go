package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ValueType is the type of a process variable, named as Camunda names it.
type ValueType string

// The variable types.
const (
	TypeString  ValueType = "String"
	TypeInteger ValueType = "Integer" // 32-bit
	TypeLong    ValueType = "Long"    // 64-bit
	TypeDouble  ValueType = "Double"
	TypeBoolean ValueType = "Boolean"
	TypeDate    ValueType = "Date"
	TypeJSON    ValueType = "Json"
	TypeNull    ValueType = "Null"
)

// ParseValueType accepts a type name in any case ("string", "String",
// "LONG") and returns its canonical form.
func ParseValueType(s string) (ValueType, error) {
	for _, t := range []ValueType{TypeString, TypeInteger, TypeLong, TypeDouble, TypeBoolean, TypeDate, TypeJSON, TypeNull} {
		if strings.EqualFold(s, string(t)) {
			return t, nil
		}
	}
	if strings.EqualFold(s, "object") {
		return TypeJSON, nil
	}
	return "", fmt.Errorf("%w: unknown variable type %q: use String, Integer, Long, Double, Boolean, Date, Json or Null", ErrInvalid, s)
}

// Value is a typed variable value. V holds, by type: string; int32 (Integer);
// int64 (Long); float64 (Double); bool (Boolean); time.Time (Date); a decoded
// JSON value — map[string]any, []any, string, float64, bool or nil — (Json);
// nil (Null).
type Value struct {
	Type ValueType
	V    any
}

// Null is the null value.
var Null = Value{Type: TypeNull}

// ValueOf infers a typed value from a Go value: strings, integers (int32
// and smaller become Integer, larger Long), floats, bools, time.Time, nil;
// maps, slices and structs become Json. A Value is returned as it is.
func ValueOf(v any) (Value, error) {
	switch x := v.(type) {
	case nil:
		return Null, nil
	case Value:
		return x, nil
	case string:
		return Value{TypeString, x}, nil
	case bool:
		return Value{TypeBoolean, x}, nil
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return Value{TypeInteger, int32(x)}, nil
		}
		return Value{TypeLong, int64(x)}, nil
	case int8:
		return Value{TypeInteger, int32(x)}, nil
	case int16:
		return Value{TypeInteger, int32(x)}, nil
	case int32:
		return Value{TypeInteger, x}, nil
	case int64:
		return Value{TypeLong, x}, nil
	case uint8:
		return Value{TypeInteger, int32(x)}, nil
	case uint16:
		return Value{TypeInteger, int32(x)}, nil
	case uint32:
		return Value{TypeLong, int64(x)}, nil
	case float32:
		return Value{TypeDouble, float64(x)}, nil
	case float64:
		return Value{TypeDouble, x}, nil
	case time.Time:
		return Value{TypeDate, x}, nil
	case json.RawMessage:
		var d any
		if err := json.Unmarshal(x, &d); err != nil {
			return Value{}, fmt.Errorf("%w: invalid JSON: %v", ErrInvalid, err)
		}
		return Value{TypeJSON, d}, nil
	}
	// Maps, slices and structs: normalise through JSON so that expressions
	// see plain maps and lists.
	b, err := json.Marshal(v)
	if err != nil {
		return Value{}, fmt.Errorf("%w: value of type %T cannot be a variable: %v", ErrInvalid, v, err)
	}
	var d any
	if err := json.Unmarshal(b, &d); err != nil {
		return Value{}, err
	}
	return Value{TypeJSON, d}, nil
}

// Typed converts a value given with an explicit type (as REST clients send
// it) into a Value, checking and converting: "Integer" with 42.0 is
// int32(42), "Date" with "2026-01-02T15:04:05.000+0100" is a time, "Json"
// with a string is parsed as JSON.
func Typed(t ValueType, v any) (Value, error) {
	bad := func() (Value, error) {
		return Value{}, fmt.Errorf("%w: value %v (%T) is not a valid %s", ErrInvalid, Truncate(fmt.Sprint(v), 80), v, t)
	}
	if v == nil && t != TypeJSON {
		return Value{Type: t}, nil // typed null
	}
	switch t {
	case TypeNull:
		return Null, nil
	case TypeString:
		switch x := v.(type) {
		case string:
			return Value{t, x}, nil
		case float64, bool, json.Number:
			return Value{t, fmt.Sprint(x)}, nil
		}
	case TypeInteger, TypeLong:
		var n int64
		switch x := v.(type) {
		case float64:
			if x != math.Trunc(x) {
				return bad()
			}
			n = int64(x)
		case json.Number:
			i, err := x.Int64()
			if err != nil {
				return bad()
			}
			n = i
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return bad()
			}
			n = i
		case int:
			n = int64(x)
		case int32:
			n = int64(x)
		case int64:
			n = x
		default:
			return bad()
		}
		if t == TypeInteger {
			if n < math.MinInt32 || n > math.MaxInt32 {
				return Value{}, fmt.Errorf("%w: %d does not fit an Integer (32 bits): use Long", ErrInvalid, n)
			}
			return Value{t, int32(n)}, nil
		}
		return Value{t, n}, nil
	case TypeDouble:
		switch x := v.(type) {
		case float64:
			return Value{t, x}, nil
		case json.Number:
			f, err := x.Float64()
			if err != nil {
				return bad()
			}
			return Value{t, f}, nil
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return bad()
			}
			return Value{t, f}, nil
		case int, int32, int64:
			return Value{t, toFloat(x)}, nil
		}
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return Value{t, x}, nil
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				return bad()
			}
			return Value{t, b}, nil
		}
	case TypeDate:
		switch x := v.(type) {
		case time.Time:
			return Value{t, x}, nil
		case string:
			tm, err := ParseTime(x)
			if err != nil {
				return Value{}, fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			return Value{t, tm}, nil
		}
	case TypeJSON:
		if s, ok := v.(string); ok {
			var d any
			if err := json.Unmarshal([]byte(s), &d); err != nil {
				return Value{}, fmt.Errorf("%w: Json variable holds invalid JSON: %v", ErrInvalid, err)
			}
			return Value{t, d}, nil
		}
		val, err := ValueOf(v)
		if err != nil {
			return Value{}, err
		}
		if val.Type != TypeJSON {
			return Value{t, val.V}, nil
		}
		return val, nil
	default:
		_, err := ParseValueType(string(t))
		return Value{}, err
	}
	return bad()
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	}
	return 0
}

// Truncate cuts s to n bytes, marking a cut with an ellipsis.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// TimeLayout is how tenantflow writes times in its REST API, as Camunda
// clients parse them: milliseconds and a numeric offset, never "Z".
const TimeLayout = "2006-01-02T15:04:05.000-0700"

// ParseTime reads a time in TimeLayout, RFC 3339, or either without
// milliseconds.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range []string{TimeLayout, time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid date %q: use %s, e.g. 2026-01-02T15:04:05.000+0100", s, TimeLayout)
}

// Columns is a value in its three storage columns.
type Columns struct {
	Text   *string
	Long   *int64
	Double *float64
}

// Columns splits a value into storage columns.
func (v Value) Columns() (Columns, error) {
	var s Columns
	switch v.Type {
	case TypeNull:
	case TypeString:
		x, _ := v.V.(string)
		if v.V != nil {
			s.Text = &x
		}
	case TypeInteger:
		if v.V != nil {
			n := int64(v.V.(int32))
			s.Long = &n
		}
	case TypeLong:
		if v.V != nil {
			n := v.V.(int64)
			s.Long = &n
		}
	case TypeDouble:
		if v.V != nil {
			f := v.V.(float64)
			s.Double = &f
		}
	case TypeBoolean:
		if v.V != nil {
			n := int64(0)
			if v.V.(bool) {
				n = 1
			}
			s.Long = &n
		}
	case TypeDate:
		if v.V != nil {
			n := v.V.(time.Time).UnixMilli()
			s.Long = &n
		}
	case TypeJSON:
		b, err := json.Marshal(v.V)
		if err != nil {
			return s, fmt.Errorf("%w: Json variable: %v", ErrInvalid, err)
		}
		t := string(b)
		s.Text = &t
	default:
		return s, fmt.Errorf("%w: unknown variable type %q", ErrInvalid, v.Type)
	}
	return s, nil
}

// DecodeValue rebuilds a value from its storage columns.
func DecodeValue(t string, text *string, long *int64, double *float64) (Value, error) {
	vt := ValueType(t)
	switch vt {
	case TypeNull:
		return Null, nil
	case TypeString:
		if text == nil {
			return Value{Type: vt}, nil
		}
		return Value{vt, *text}, nil
	case TypeInteger:
		if long == nil {
			return Value{Type: vt}, nil
		}
		return Value{vt, int32(*long)}, nil
	case TypeLong:
		if long == nil {
			return Value{Type: vt}, nil
		}
		return Value{vt, *long}, nil
	case TypeDouble:
		if double == nil {
			return Value{Type: vt}, nil
		}
		return Value{vt, *double}, nil
	case TypeBoolean:
		if long == nil {
			return Value{Type: vt}, nil
		}
		return Value{vt, *long != 0}, nil
	case TypeDate:
		if long == nil {
			return Value{Type: vt}, nil
		}
		return Value{vt, time.UnixMilli(*long).UTC()}, nil
	case TypeJSON:
		if text == nil {
			return Value{Type: vt}, nil
		}
		var d any
		dec := json.NewDecoder(bytes.NewReader([]byte(*text)))
		if err := dec.Decode(&d); err != nil {
			return Value{}, err
		}
		return Value{vt, d}, nil
	}
	return Value{}, fmt.Errorf("stored variable has unknown type %q", t)
}

// exprValue is how expressions see a value: numbers as Go numbers, dates as
// time.Time, JSON decoded.
func (v Value) exprValue() any {
	if i, ok := v.V.(int32); ok {
		return int(i)
	}
	if i, ok := v.V.(int64); ok {
		return int(i)
	}
	return v.V
}

// Equal reports whether two values have the same type and content.
func (v Value) Equal(o Value) bool {
	if v.Type != o.Type {
		return false
	}
	if t, ok := v.V.(time.Time); ok {
		ot, ok := o.V.(time.Time)
		return ok && t.Equal(ot)
	}
	return reflect.DeepEqual(v.V, o.V)
}

// Vars is a convenience for passing variables from Go: each value's type is
// inferred with ValueOf.
type Vars map[string]any

// TypedVars converts Vars into typed values, in a stable order.
func TypedVars(in map[string]any) (map[string]Value, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]Value, len(in))
	for k, v := range in {
		if err := ValidateVarName(k); err != nil {
			return nil, err
		}
		tv, err := ValueOf(v)
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", k, err)
		}
		out[k] = tv
	}
	return out, nil
}

// ValidateVarName refuses an empty variable name or one longer than 255
// bytes, saying which rule it broke.
func ValidateVarName(n string) error {
	if n == "" || len(n) > 255 {
		return fmt.Errorf("%w: variable names must be 1-255 characters", ErrInvalid)
	}
	return nil
}

var errNotNumber = errors.New("not a number")

// asInt converts an expression result to an int.
func asInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int32:
		return int(x), nil
	case int64:
		return int(x), nil
	case float64:
		if x == math.Trunc(x) {
			return int(x), nil
		}
	case string:
		return strconv.Atoi(strings.TrimSpace(x))
	}
	return 0, errNotNumber
}
