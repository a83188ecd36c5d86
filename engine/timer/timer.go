package timer

import (
	"fmt"
	"strings"
	"time"
)

// Kind is the kind of a BPMN timer definition: the element that holds it in
// a timerEventDefinition.
type Kind uint8

const (
	// KindDate is timeDate: one point in time.
	KindDate Kind = iota + 1
	// KindDuration is timeDuration: fire once, this long after the timer starts.
	KindDuration
	// KindCycle is timeCycle: fire repeatedly.
	KindCycle
)

// String returns the BPMN element name: timeDate, timeDuration or timeCycle.
func (k Kind) String() string {
	switch k {
	case KindDate:
		return "timeDate"
	case KindDuration:
		return "timeDuration"
	case KindCycle:
		return "timeCycle"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Schedule is a parsed timer definition: a [Date], a [Duration] or a [*Cycle].
// It never reads the clock; the caller passes the current time.
type Schedule interface {
	// First returns when a timer created at now fires for the first time,
	// and false if it never fires (a bounded cycle whose occurrences all lie
	// before now). A date in the past is returned as is: the timer is due.
	First(now time.Time) (time.Time, bool)
	// Next returns when the timer fires next, strictly after after, given
	// that it has fired fired times so far; false when it is done. Dates and
	// durations fire once, so their Next always returns false.
	Next(after time.Time, fired int) (time.Time, bool)
}

// Parse parses a timer definition of the given kind, reading a date or time
// of day without an offset as UTC. It is ParseIn(kind, s, time.UTC).
func Parse(kind Kind, s string) (Schedule, error) { return ParseIn(kind, s, time.UTC) }

// ParseIn parses a timer definition of the given kind. Dates without an
// offset, and cron fields, are read in loc (UTC when nil). The error is a
// *ParseError.
func ParseIn(kind Kind, s string, loc *time.Location) (Schedule, error) {
	switch kind {
	case KindDate:
		d, err := ParseDateIn(s, loc)
		if err != nil {
			return nil, err
		}
		return Date{Time: d}, nil
	case KindDuration:
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		return d, nil
	case KindCycle:
		c, err := ParseCycleIn(s, loc)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("timer: unknown kind %v: use KindDate, KindDuration or KindCycle", kind)
}

// Date is a timeDate schedule: it fires once, at Time.
type Date struct {
	// Time is when the timer fires.
	Time time.Time
}

// First returns d.Time, even when it is before now: an overdue timer is due
// at once.
func (d Date) First(time.Time) (time.Time, bool) { return d.Time, true }

// Next returns false: a date fires once.
func (d Date) Next(time.Time, int) (time.Time, bool) { return time.Time{}, false }

// ParseError reports a timer definition that cannot be parsed. Its message
// says what is wrong and shows valid examples.
type ParseError struct {
	// Kind is what the text was parsed as.
	Kind Kind
	// Input is the text, without surrounding whitespace.
	Input string
	// Reason says what is wrong; empty when the text is not recognisable at all.
	Reason string
}

// Error returns "invalid timer <kind> <input>: <reason>; use … like …".
func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid timer %s %q: ", kindNoun(e.Kind), e.Input)
	if e.Reason != "" {
		b.WriteString(e.Reason)
		b.WriteString("; ")
	}
	b.WriteString(examples(e.Kind))
	return b.String()
}

func kindNoun(k Kind) string {
	switch k {
	case KindDate:
		return "date"
	case KindDuration:
		return "duration"
	case KindCycle:
		return "cycle"
	}
	return k.String()
}

func examples(k Kind) string {
	switch k {
	case KindDate:
		return "use ISO 8601 like 2026-03-01T09:00:00Z or 2026-03-01T09:00:00+01:00"
	case KindDuration:
		return "use ISO 8601 like PT5M, PT1H30M or P1D"
	}
	return "use ISO 8601 like R3/PT10M or R/2026-03-01T09:00:00Z/P1D, or cron like 0 0 9 * * ?"
}
