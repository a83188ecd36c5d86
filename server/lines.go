package server

import (
	"encoding/json"
	"io"
)

// lineEncoder writes newline-delimited JSON.
type lineEncoder struct{ enc *json.Encoder }

func newLineEncoder(w io.Writer) *lineEncoder { return &lineEncoder{enc: json.NewEncoder(w)} }

func (l *lineEncoder) line(v any) error { return l.enc.Encode(v) }
