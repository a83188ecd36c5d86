package core

import (
	"encoding/json"
	"strconv"
)

// jsonObject writes an event's data object without reflection: the hot
// events (variable updates, task changes) are written on every step, and
// marshalling a map for each cost a third of the core's time. The output is
// byte for byte what json.Marshal gives for the same map, provided fields
// are added in sorted key order (json.Marshal sorts map keys): readers and
// golden files see no difference.
type jsonObject struct {
	b   []byte
	err error
}

func newJSONObject(capacity int) jsonObject {
	o := jsonObject{b: make([]byte, 1, capacity)}
	o.b[0] = '{'
	return o
}

func (o *jsonObject) key(k string) {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = appendJSONString(o.b, k)
	o.b = append(o.b, ':')
}

// str adds a string field.
func (o *jsonObject) str(k, v string) {
	o.key(k)
	o.b = appendJSONString(o.b, v)
}

// intString adds an integer field rendered as a JSON string, as IDs are.
func (o *jsonObject) intString(k string, v int64) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = strconv.AppendInt(o.b, v, 10)
	o.b = append(o.b, '"')
}

// value adds a field holding any JSON-encodable value.
func (o *jsonObject) value(k string, v any) {
	o.key(k)
	switch x := v.(type) {
	case nil:
		o.b = append(o.b, "null"...)
	case string:
		o.b = appendJSONString(o.b, x)
	case bool:
		o.b = strconv.AppendBool(o.b, x)
	case int32:
		o.b = strconv.AppendInt(o.b, int64(x), 10)
	case int64:
		o.b = strconv.AppendInt(o.b, x, 10)
	case int:
		o.b = strconv.AppendInt(o.b, int64(x), 10)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			o.err = err
			return
		}
		o.b = append(o.b, b...)
	}
}

// bytes closes the object; nil when a value could not be encoded (as
// json.Marshal of the whole map would have failed).
func (o *jsonObject) bytes() []byte {
	if o.err != nil {
		return nil
	}
	return append(o.b, '}')
}

// appendJSONString appends s as a JSON string. Strings of plain printable
// ASCII (the usual IDs and names) are copied; anything else goes through
// encoding/json, so escaping (HTML characters, control characters, invalid
// UTF-8, U+2028) stays exactly json.Marshal's.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
