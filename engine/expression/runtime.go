package expression

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
)

// compileOptions registers the helpers that translated programs call. They
// are stateless: the variables arrive as the program's environment ($env).
var compileOptions = []expr.Option{
	expr.DisableAllBuiltins(),
	expr.Function("v", fnVar, new(func(any, string) any)),
	expr.Function("g", fnGetVar, new(func(any, string) any)),
	expr.Function("p", fnProp, new(func(any, any, string, string) any)),
	expr.Function("e", fnEmpty, new(func(any) bool)),
	expr.Function("b", fnBool, new(func(any, string) bool)),
	expr.Function("m", fnMod, new(func(any, any) any)),
	expr.Function("t", fnText, new(func(...any) string)),
}

func lookup(env any, name string) (any, bool) {
	vars, _ := env.(Variables)
	if vars == nil {
		return nil, false
	}
	return vars.Lookup(name)
}

func fnVar(args ...any) (any, error) {
	name := args[1].(string)
	if v, ok := lookup(args[0], name); ok {
		return v, nil
	}
	return nil, &MissingVariableError{Name: name}
}

func fnGetVar(args ...any) (any, error) {
	v, _ := lookup(args[0], args[1].(string))
	return v, nil
}

// fnProp reads obj.key or obj[key]: a key of a map, an element of a list or
// an exported field of a struct.
func fnProp(args ...any) (any, error) {
	obj, key := args[0], args[1]
	path, parent := args[2].(string), args[3].(string)
	switch o := obj.(type) {
	case map[string]any:
		k, ok := key.(string)
		if !ok {
			return nil, fmt.Errorf("cannot read %s: %s is a map and its keys are strings, not %s", path, parent, describe(key))
		}
		v, ok := o[k]
		if !ok {
			return nil, &MissingVariableError{Name: path}
		}
		return v, nil
	case []any:
		i, err := listIndex(key, len(o), path, parent)
		if err != nil {
			return nil, err
		}
		return o[i], nil
	case nil:
		return nil, fmt.Errorf("cannot read %s: %s is null", path, parent)
	}
	return reflectProp(obj, key, path, parent)
}

func reflectProp(obj, key any, path, parent string) (any, error) {
	rv := reflect.ValueOf(obj)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil, fmt.Errorf("cannot read %s: %s is null", path, parent)
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Map:
		k, ok := key.(string)
		if !ok || rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("cannot read %s: %s is a map and its keys are strings, not %s", path, parent, describe(key))
		}
		v := rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()))
		if !v.IsValid() {
			return nil, &MissingVariableError{Name: path}
		}
		return v.Interface(), nil
	case reflect.Slice, reflect.Array:
		i, err := listIndex(key, rv.Len(), path, parent)
		if err != nil {
			return nil, err
		}
		return rv.Index(i).Interface(), nil
	case reflect.Struct:
		if k, ok := key.(string); ok {
			if f, ok := structField(rv, k); ok {
				return f.Interface(), nil
			}
		}
		return nil, &MissingVariableError{Name: path}
	}
	return nil, fmt.Errorf("cannot read %s: %s is %s, not a map or a list", path, parent, describe(obj))
}

// structField finds the exported field that a property name means: the field
// whose json tag names it, else the field of that name with its first letter
// upper-cased (order.total reads Total, as a JavaBean getter would).
func structField(rv reflect.Value, name string) (reflect.Value, bool) {
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return rv.Field(i), true
		}
	}
	r, size := utf8.DecodeRuneInString(name)
	f, ok := t.FieldByName(string(unicode.ToUpper(r)) + name[size:])
	if !ok || !f.IsExported() || len(f.Index) != 1 {
		return reflect.Value{}, false
	}
	return rv.Field(f.Index[0]), true
}

func listIndex(key any, n int, path, parent string) (int, error) {
	i, ok := wholeNumber(key)
	if !ok {
		return 0, fmt.Errorf("cannot read %s: %s is a list and its index must be a whole number, not %s", path, parent, describe(key))
	}
	if i < 0 || i >= int64(n) {
		return 0, fmt.Errorf("cannot read %s: index %d is out of range, %s has %d elements", path, i, parent, n)
	}
	return int(i), nil
}

// fnEmpty implements empty x: true for null, "", and an empty list or map.
func fnEmpty(args ...any) (any, error) {
	switch x := args[0].(type) {
	case nil:
		return true, nil
	case string:
		return x == "", nil
	case []any:
		return len(x) == 0, nil
	case map[string]any:
		return len(x) == 0, nil
	}
	rv := reflect.ValueOf(args[0])
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Pointer:
		if rv.IsNil() {
			return true, nil
		}
	}
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return rv.Len() == 0, nil
	}
	return false, nil
}

func fnBool(args ...any) (any, error) {
	if b, ok := args[0].(bool); ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s must be a boolean, not %s", args[1].(string), describe(args[0]))
}

// fnMod implements % and mod: integer remainder for two integers, the
// floating-point remainder otherwise (as in EL).
func fnMod(args ...any) (any, error) {
	for _, a := range args {
		if _, _, ok := number(a); !ok {
			return nil, fmt.Errorf("mod needs two numbers, not %s", describe(a))
		}
	}
	x, xInt := integer(args[0])
	y, yInt := integer(args[1])
	if xInt && yInt {
		if y == 0 {
			return nil, errors.New("division by zero in mod")
		}
		return int(x % y), nil
	}
	a, _, _ := number(args[0])
	b, _, _ := number(args[1])
	return math.Mod(a, b), nil
}

// integer returns the value of a signed or unsigned integer type that fits int64.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), x <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	}
	return 0, false
}

// number converts any Go number to float64 and tells whether it is an integer type.
func number(v any) (f float64, isInt bool, ok bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true, true
	case int8:
		return float64(x), true, true
	case int16:
		return float64(x), true, true
	case int32:
		return float64(x), true, true
	case int64:
		return float64(x), true, true
	case uint:
		return float64(x), true, true
	case uint8:
		return float64(x), true, true
	case uint16:
		return float64(x), true, true
	case uint32:
		return float64(x), true, true
	case uint64:
		return float64(x), true, true
	case float32:
		return float64(x), false, true
	case float64:
		return x, false, true
	}
	return 0, false, false
}

// wholeNumber converts an integer, or a float without fraction, to int64.
func wholeNumber(v any) (int64, bool) {
	if i, ok := integer(v); ok {
		return i, true
	}
	f, isInt, ok := number(v)
	if !ok || isInt || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// fnText concatenates the parts of a template.
func fnText(args ...any) (any, error) {
	var b strings.Builder
	n := 0
	for _, a := range args {
		if s, ok := a.(string); ok {
			n += len(s)
		} else {
			n += 8
		}
	}
	b.Grow(n)
	for _, a := range args {
		if err := appendText(&b, a); err != nil {
			return nil, err
		}
	}
	return b.String(), nil
}

// appendText writes v as text: null as nothing, numbers in plain decimal
// notation (2.0 as "2"), times in RFC 3339.
func appendText(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		b.WriteString(x)
		return nil
	case bool:
		b.WriteString(strconv.FormatBool(x))
		return nil
	case time.Time:
		b.WriteString(x.Format(time.RFC3339Nano))
		return nil
	}
	if s, ok := numberText(v); ok {
		b.WriteString(s)
		return nil
	}
	if s, ok := v.(fmt.Stringer); ok {
		b.WriteString(s.String())
		return nil
	}
	return fmt.Errorf("%s cannot be written as text", describe(v))
}

func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float32:
		return floatText(float64(x), 32), true
	case float64:
		return floatText(x, 64), true
	}
	if i, ok := integer(v); ok {
		return strconv.FormatInt(i, 10), true
	}
	return "", false
}

// floatText prints a float without exponent in the usual range, and without
// a fraction when it has none: 2 → "2", 0.5 → "0.5", 1e30 → "1e+30".
func floatText(f float64, bits int) string {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, bits)
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}
