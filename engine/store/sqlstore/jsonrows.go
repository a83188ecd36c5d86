package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"strconv"
	"sync"

	"github.com/valyala/fastjson"
)

// jsonBytes is a JSON column's value as the driver gave it (bytes, or text;
// nil for NULL).
func jsonBytes(v driver.Value) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// decodeJSONRows decodes rows as PostgreSQL's json_agg writes them, a JSON
// array of objects keyed by column name, into dest, a *[]T whose fields
// carry the columns' names in db tags (as sqlx matches them). Empty data
// (json_agg of no rows is NULL) leaves dest empty. It returns the number
// of rows.
func decodeJSONRows(data []byte, dest any) (int, error) {
	if len(data) == 0 {
		return 0, nil
	}
	p := jsonParsers.Get()
	defer jsonParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return 0, fmt.Errorf("rows as JSON: %w", err)
	}
	items, err := v.Array()
	if err != nil {
		return 0, fmt.Errorf("rows as JSON: %w", err)
	}
	slice := reflect.ValueOf(dest).Elem()
	typ := slice.Type().Elem()
	fields := jsonFieldsOf(typ)
	out := reflect.MakeSlice(slice.Type(), len(items), len(items))
	for i, item := range items {
		obj, err := item.Object()
		if err != nil {
			return 0, fmt.Errorf("rows as JSON: %w", err)
		}
		row := out.Index(i)
		obj.Visit(func(key []byte, v *fastjson.Value) {
			if err != nil {
				return
			}
			f, ok := fields[string(key)]
			if !ok {
				err = fmt.Errorf("column %s has no field in %s", key, typ)
				return
			}
			if e := f.set(row.Field(f.index), v); e != nil {
				err = fmt.Errorf("column %s of %s: %w", key, typ, e)
			}
		})
		if err != nil {
			return 0, err
		}
	}
	slice.Set(out)
	return len(items), nil
}

var jsonParsers fastjson.ParserPool

// jsonField is where a column goes in a row type, and how.
type jsonField struct {
	index int
	set   func(f reflect.Value, v *fastjson.Value) error
}

// jsonFields caches, per row type, its fields by db tag.
var jsonFields sync.Map // reflect.Type → map[string]jsonField

func jsonFieldsOf(t reflect.Type) map[string]jsonField {
	if m, ok := jsonFields.Load(t); ok {
		return m.(map[string]jsonField)
	}
	m := map[string]jsonField{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if tag := sf.Tag.Get("db"); tag != "" {
			m[tag] = jsonField{index: i, set: jsonSetter(sf.Type)}
		}
	}
	jsonFields.Store(t, m)
	return m
}

var (
	nullInt64Type   = reflect.TypeFor[sql.NullInt64]()
	nullFloat64Type = reflect.TypeFor[sql.NullFloat64]()
	nullStringType  = reflect.TypeFor[sql.NullString]()
)

// jsonSetter returns how to set a field of type t from a JSON value, for
// the field types the row types use. JSON null leaves the field zero (not
// valid, for the sql.Null types).
func jsonSetter(t reflect.Type) func(f reflect.Value, v *fastjson.Value) error {
	unsupported := func(f reflect.Value, _ *fastjson.Value) error {
		return fmt.Errorf("no JSON decoding for a field of type %s", f.Type())
	}
	nonNull := func(set func(f reflect.Value, v *fastjson.Value) error) func(f reflect.Value, v *fastjson.Value) error {
		return func(f reflect.Value, v *fastjson.Value) error {
			if v.Type() == fastjson.TypeNull {
				f.SetZero()
				return nil
			}
			return set(f, v)
		}
	}
	switch t {
	case nullInt64Type:
		return nonNull(func(f reflect.Value, v *fastjson.Value) error {
			n, err := v.Int64()
			*f.Addr().Interface().(*sql.NullInt64) = sql.NullInt64{Int64: n, Valid: err == nil}
			return err
		})
	case nullFloat64Type:
		return nonNull(func(f reflect.Value, v *fastjson.Value) error {
			x, err := jsonFloat(v)
			*f.Addr().Interface().(*sql.NullFloat64) = sql.NullFloat64{Float64: x, Valid: err == nil}
			return err
		})
	case nullStringType:
		return nonNull(func(f reflect.Value, v *fastjson.Value) error {
			b, err := v.StringBytes()
			*f.Addr().Interface().(*sql.NullString) = sql.NullString{String: string(b), Valid: err == nil}
			return err
		})
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		return nonNull(func(f reflect.Value, v *fastjson.Value) error {
			n, err := v.Int64()
			f.SetInt(n)
			return err
		})
	case reflect.Float64:
		return nonNull(func(f reflect.Value, v *fastjson.Value) error {
			x, err := jsonFloat(v)
			f.SetFloat(x)
			return err
		})
	case reflect.String:
		return nonNull(func(f reflect.Value, v *fastjson.Value) error {
			b, err := v.StringBytes()
			f.SetString(string(b))
			return err
		})
	case reflect.Bool:
		return nonNull(func(f reflect.Value, v *fastjson.Value) error {
			b, err := v.Bool()
			f.SetBool(b)
			return err
		})
	}
	return unsupported
}

// jsonFloat reads a number; PostgreSQL writes NaN and the infinities as
// strings.
func jsonFloat(v *fastjson.Value) (float64, error) {
	if v.Type() == fastjson.TypeString {
		return strconv.ParseFloat(string(v.GetStringBytes()), 64)
	}
	return v.Float64()
}
