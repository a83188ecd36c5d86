package core

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written event data must be byte for byte what json.Marshal gave
// for the maps it replaced: consumers and golden files compare bytes.
func TestEventJSONMatchesMarshalOfTheMap(t *testing.T) {
	strs := []string{"", "plain", "with space", `quote"d`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline\r",
		"\x00\x01\x1f\x7f", "ünïcødé", "\u2028\u2029", string([]byte{0xff, 0xfe, 'a'}), "emoji 🎉", "a'b"}
	vals := []any{nil, "", "x<y", true, false, int32(-7), int64(math.MaxInt64), int64(math.MinInt64), 3.5, 1e21, 1e-7,
		time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC), map[string]any{"b": 1.0, "a": []any{"<", nil}}, []any{}}
	r := rand.New(rand.NewPCG(1, 2))
	randStr := func() string {
		if r.IntN(3) == 0 {
			return strs[r.IntN(len(strs))]
		}
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	for i := 0; i < 5000; i++ {
		name, typ := randStr(), randStr()
		val := vals[r.IntN(len(vals))]
		if r.IntN(4) == 0 {
			val = randStr()
		}
		scope := r.Int64()
		want, err := json.Marshal(map[string]any{"name": name, "type": ValueType(typ), "value": val, "scopeId": formatID(scope)})
		if err != nil {
			t.Fatal(err)
		}
		d := newJSONObject(8)
		d.str("name", name)
		d.intString("scopeId", scope)
		d.str("type", typ)
		d.value("value", val)
		if got := d.bytes(); !bytes.Equal(got, want) {
			t.Fatalf("variable data differs:\n got %s\nwant %s", got, want)
		}

		task := &TaskRow{Task: Task{Name: randStr()}}
		if r.IntN(2) == 0 {
			task.Assignee = randStr()
		}
		user := ""
		if r.IntN(2) == 0 {
			user = randStr()
		}
		m := taskData(task)
		if user != "" {
			m["completedBy"] = user
		}
		want, _ = json.Marshal(m)
		if got := taskJSON(task, user); !bytes.Equal(got, want) {
			t.Fatalf("task data differs:\n got %s\nwant %s", got, want)
		}
	}
}

// A value json.Marshal refuses leaves the event without data, as before.
func TestEventJSONUnencodableValueGivesNoData(t *testing.T) {
	d := newJSONObject(8)
	d.value("value", math.NaN())
	if b := d.bytes(); b != nil {
		t.Fatalf("data %s", b)
	}
}
