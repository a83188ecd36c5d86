package bpmn

import "fmt"

// Defaults of Options. They are generous for diagrams drawn by people: a large real process is
// a few hundred kilobytes and a few thousand elements, nested a dozen levels deep.
const (
	DefaultMaxBytes    = 10 << 20 // 10 MiB
	DefaultMaxDepth    = 100
	DefaultMaxElements = 200_000
)

// Options bounds the work Parse will do for one document. The zero value means the defaults.
type Options struct {
	// MaxBytes is the largest document accepted, in bytes. Zero means DefaultMaxBytes
	// (10 MiB).
	MaxBytes int64
	// MaxDepth is the deepest element nesting accepted; the root element is at depth 1.
	// Zero means DefaultMaxDepth (100).
	MaxDepth int
	// MaxElements is the largest number of elements accepted, diagram elements included. It
	// bounds memory, since small elements cost far more as structs than as text. Zero means
	// DefaultMaxElements (200 000).
	MaxElements int
}

func (o Options) withDefaults() Options {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.MaxElements == 0 {
		o.MaxElements = DefaultMaxElements
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.MaxBytes < 0:
		return fmt.Errorf("bpmn: Options.MaxBytes is %d; use a positive limit, or zero for the default of %d", o.MaxBytes, DefaultMaxBytes)
	case o.MaxDepth < 0:
		return fmt.Errorf("bpmn: Options.MaxDepth is %d; use a positive limit, or zero for the default of %d", o.MaxDepth, DefaultMaxDepth)
	case o.MaxElements < 0:
		return fmt.Errorf("bpmn: Options.MaxElements is %d; use a positive limit, or zero for the default of %d", o.MaxElements, DefaultMaxElements)
	}
	return nil
}
