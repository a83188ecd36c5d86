package timer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return loc
}

func utc(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Duration
		iso  string
	}{
		{"PT5M", Duration{Clock: 5 * time.Minute}, "PT5M"},
		{"PT1H30M", Duration{Clock: 90 * time.Minute}, "PT1H30M"},
		{"PT90M", Duration{Clock: 90 * time.Minute}, "PT1H30M"},
		{"P1D", Duration{Days: 1}, "P1D"},
		{"P1DT2H", Duration{Days: 1, Clock: 2 * time.Hour}, "P1DT2H"},
		{"P2W", Duration{Weeks: 2}, "P2W"},
		{"P1W3D", Duration{Weeks: 1, Days: 3}, "P1W3D"},
		{"P1Y2M", Duration{Years: 1, Months: 2}, "P1Y2M"},
		{"P1Y2M3DT4H5M6S", Duration{Years: 1, Months: 2, Days: 3, Clock: 4*time.Hour + 5*time.Minute + 6*time.Second}, "P1Y2M3DT4H5M6S"},
		{"PT0.5S", Duration{Clock: 500 * time.Millisecond}, "PT0.5S"},
		{"PT0,25S", Duration{Clock: 250 * time.Millisecond}, "PT0.25S"},
		{"PT1.5H", Duration{Clock: 90 * time.Minute}, "PT1H30M"},
		{"PT1M0.001S", Duration{Clock: time.Minute + time.Millisecond}, "PT1M0.001S"},
		{"PT0S", Duration{}, "PT0S"},
		{"P0D", Duration{}, "PT0S"},
		{"  PT5M\n", Duration{Clock: 5 * time.Minute}, "PT5M"},
		{"PT36H", Duration{Clock: 36 * time.Hour}, "PT36H"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseDuration(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if got.String() != tt.iso {
			t.Errorf("ParseDuration(%q).String() = %q, want %q", tt.in, got.String(), tt.iso)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, msg string }{
		{"5 min", `invalid timer duration "5 min": use ISO 8601 like PT5M, PT1H30M or P1D`},
		{"-PT5M", `invalid timer duration "-PT5M": negative durations are not allowed; use ISO 8601 like PT5M`},
		{"P-1D", `expected a number at "-1D"`},
		{"P1H", `H must come after "T", as in PT1H`},
		{"PT1D", `D must come before "T", as in P1D`},
		{"PT", `give hours, minutes or seconds after "T"`},
		{"P", `give at least one component after P`},
		{"", `invalid timer duration "": use ISO 8601`},
		{"P1.5D", `only hours, minutes and seconds may have a fraction`},
		{"PT1.5S2M", `only the last component may have a fraction`},
		{"PT0.5M30S", `only the last component may have a fraction`},
		{"PT1M1H", `components must appear once each, in the order Y M W D T H M S`},
		{"P1D1D", `components must appear once each`},
		{"P1DT1HT1M", `"T" may appear only once`},
		{"P1X", `unknown unit 'X'`},
		{"PT5", `the number 5 needs a unit`},
		{"pt5m", `invalid timer duration "pt5m": use ISO 8601`},
		{"PT1.2.3S", `"1.2.3" is not a number`},
		{"PT1..5S", `"1..5" is not a number`},
		{"P999999Y", `999999Y is too long`},
		{"PT9999999999999H", `9999999999999H is too long`},
		{"PT99999999999999999999S", `is too long`},
	}
	for _, tt := range tests {
		_, err := ParseDuration(tt.in)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Kind != KindDuration {
			t.Errorf("ParseDuration(%q) err = %v, want a duration *ParseError", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseDuration(%q) err = %q, want it to contain %q", tt.in, err, tt.msg)
		}
	}
}

func TestDurationAddTo(t *testing.T) {
	t.Parallel()
	berlin := mustLoad(t, "Europe/Berlin")
	newYork := mustLoad(t, "America/New_York")
	tests := []struct {
		name  string
		from  time.Time
		d     string
		want  time.Time
		hours float64 // elapsed hours, when the test is about DST; 0 to skip
	}{
		{"minutes", utc(2026, 1, 1, 10, 0, 0), "PT5M", utc(2026, 1, 1, 10, 5, 0), 0},
		{"day rolls over", utc(2026, 1, 1, 23, 0, 0), "PT2H", utc(2026, 1, 2, 1, 0, 0), 0},
		{"year", utc(2026, 5, 17, 9, 0, 0), "P1Y", utc(2027, 5, 17, 9, 0, 0), 0},
		{"two weeks", utc(2026, 2, 20, 9, 0, 0), "P2W", utc(2026, 3, 6, 9, 0, 0), 0},

		// Month ends clamp to the last day of the target month.
		{"Jan 31 + P1M", utc(2026, 1, 31, 9, 0, 0), "P1M", utc(2026, 2, 28, 9, 0, 0), 0},
		{"Jan 31 + P1M in a leap year", utc(2028, 1, 31, 9, 0, 0), "P1M", utc(2028, 2, 29, 9, 0, 0), 0},
		{"Mar 31 + P1M", utc(2026, 3, 31, 9, 0, 0), "P1M", utc(2026, 4, 30, 9, 0, 0), 0},
		{"Aug 31 + P6M", utc(2026, 8, 31, 9, 0, 0), "P6M", utc(2027, 2, 28, 9, 0, 0), 0},
		{"Feb 29 + P1Y", utc(2028, 2, 29, 9, 0, 0), "P1Y", utc(2029, 2, 28, 9, 0, 0), 0},
		{"Nov 30 + P3M", utc(2026, 11, 30, 9, 0, 0), "P3M", utc(2027, 2, 28, 9, 0, 0), 0},
		{"Jan 31 + P1M1D: months first", utc(2026, 1, 31, 9, 0, 0), "P1M1D", utc(2026, 3, 1, 9, 0, 0), 0},
		{"Jan 30 + P1MT48H", utc(2026, 1, 30, 9, 0, 0), "P1MT48H", utc(2026, 3, 2, 9, 0, 0), 0},
		{"Dec 15 + P13M", utc(2026, 12, 15, 9, 0, 0), "P13M", utc(2028, 1, 15, 9, 0, 0), 0},

		// Spring forward in Berlin: 2026-03-29 02:00 CET → 03:00 CEST.
		{"P1D keeps the wall clock over spring forward",
			time.Date(2026, 3, 28, 10, 0, 0, 0, berlin), "P1D", time.Date(2026, 3, 29, 10, 0, 0, 0, berlin), 23},
		{"PT24H is elapsed time over spring forward",
			time.Date(2026, 3, 28, 10, 0, 0, 0, berlin), "PT24H", time.Date(2026, 3, 29, 11, 0, 0, 0, berlin), 24},
		{"P1W over spring forward",
			time.Date(2026, 3, 25, 8, 30, 0, 0, berlin), "P1W", time.Date(2026, 4, 1, 8, 30, 0, 0, berlin), 167},
		// Fall back in Berlin: 2026-10-25 03:00 CEST → 02:00 CET.
		{"P1D keeps the wall clock over fall back",
			time.Date(2026, 10, 24, 10, 0, 0, 0, berlin), "P1D", time.Date(2026, 10, 25, 10, 0, 0, 0, berlin), 25},
		{"PT24H is elapsed time over fall back",
			time.Date(2026, 10, 24, 10, 0, 0, 0, berlin), "PT24H", time.Date(2026, 10, 25, 9, 0, 0, 0, berlin), 24},
		{"P1M over fall back",
			time.Date(2026, 10, 15, 10, 0, 0, 0, berlin), "P1M", time.Date(2026, 11, 15, 10, 0, 0, 0, berlin), 31*24 + 1},
		// New York springs forward on 2026-03-08 at 02:00.
		{"P1DT1H in New York",
			time.Date(2026, 3, 7, 12, 0, 0, 0, newYork), "P1DT1H", time.Date(2026, 3, 8, 13, 0, 0, 0, newYork), 24},
		// A wall time that the change skips moves forward, as time.Date does.
		{"P1D landing in the gap",
			time.Date(2026, 3, 28, 2, 30, 0, 0, berlin), "P1D", time.Date(2026, 3, 29, 3, 30, 0, 0, berlin), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := ParseDuration(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			got := d.AddTo(tt.from)
			if !got.Equal(tt.want) {
				t.Errorf("%s + %s = %v, want %v", tt.from, tt.d, got, tt.want)
			}
			if got.Location() != tt.from.Location() {
				t.Errorf("location = %v, want %v", got.Location(), tt.from.Location())
			}
			if tt.hours != 0 && got.Sub(tt.from).Hours() != tt.hours {
				t.Errorf("elapsed %v, want %vh", got.Sub(tt.from), tt.hours)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	berlin := mustLoad(t, "Europe/Berlin")
	tests := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2026-03-01T09:00:00Z", nil, utc(2026, 3, 1, 9, 0, 0)},
		{"2026-03-01T09:00:00Z", berlin, utc(2026, 3, 1, 9, 0, 0)},
		{"2026-03-01T09:00:00+02:00", nil, utc(2026, 3, 1, 7, 0, 0)},
		{"2026-03-01T09:00:00-0530", nil, utc(2026, 3, 1, 14, 30, 0)},
		{"2026-03-01T09:00:00+01", nil, utc(2026, 3, 1, 8, 0, 0)},
		{"2026-03-01T09:00:00+00:00", nil, utc(2026, 3, 1, 9, 0, 0)},
		{"2026-03-01T09:00:00.250Z", nil, time.Date(2026, 3, 1, 9, 0, 0, 250_000_000, time.UTC)},
		{"2026-03-01T09:00:00,5Z", nil, time.Date(2026, 3, 1, 9, 0, 0, 500_000_000, time.UTC)},
		{"2026-03-01T09:00:00.123456789Z", nil, time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)},
		// Without an offset: the given location, UTC by default.
		{"2026-03-01T09:00:00", nil, utc(2026, 3, 1, 9, 0, 0)},
		{"2026-03-01T09:00:00", berlin, utc(2026, 3, 1, 8, 0, 0)},
		{"2026-07-01T09:00:00", berlin, utc(2026, 7, 1, 7, 0, 0)},
		{"2026-03-01T09:00", nil, utc(2026, 3, 1, 9, 0, 0)},
		// A wall time skipped by the change to summer time moves forward.
		{"2026-03-29T02:30:00", berlin, time.Date(2026, 3, 29, 3, 30, 0, 0, berlin)},
		// A date alone is the start of that day.
		{"2026-03-01", nil, utc(2026, 3, 1, 0, 0, 0)},
		{"2026-03-01", berlin, utc(2026, 2, 28, 23, 0, 0)},
		{"2028-02-29T12:00:00Z", nil, utc(2028, 2, 29, 12, 0, 0)},
		{"\n  2026-03-01T09:00:00Z  ", nil, utc(2026, 3, 1, 9, 0, 0)},
	}
	for _, tt := range tests {
		got, err := ParseDateIn(tt.in, tt.loc)
		if err != nil {
			t.Errorf("ParseDateIn(%q, %v): %v", tt.in, tt.loc, err)
			continue
		}
		if !got.Equal(tt.want) {
			t.Errorf("ParseDateIn(%q, %v) = %v, want %v", tt.in, tt.loc, got, tt.want)
		}
	}
	if got, err := ParseDate("2026-03-01T09:00:00"); err != nil || !got.Equal(utc(2026, 3, 1, 9, 0, 0)) || got.Location() != time.UTC {
		t.Errorf("ParseDate without offset = %v, %v; want 09:00 UTC", got, err)
	}
}

func TestParseDateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, msg string }{
		{"tomorrow", `invalid timer date "tomorrow": use ISO 8601 like 2026-03-01T09:00:00Z or 2026-03-01T09:00:00+01:00`},
		{"2026-03-01 09:00:00", `separate the date and the time with "T"`},
		{"2026-13-01T09:00:00Z", `month 13 does not exist`},
		{"2026-00-01T09:00:00Z", `month 0 does not exist`},
		{"2026-02-29T09:00:00Z", `February 2026 has no day 29`},
		{"2026-04-31T09:00:00Z", `April 2026 has no day 31`},
		{"2026-03-01T24:00:00Z", `hour 24 does not exist`},
		{"2026-03-01T09:60:00Z", `minutes and seconds go from 00 to 59`},
		{"2026-03-01T09:00:60Z", `minutes and seconds go from 00 to 59`},
		{"2026-03-01T09:00:00+19:00", `offset +19:00 is out of range`},
		{"2026-03-01Z", `invalid timer date "2026-03-01Z"`},
		{"2026-3-1T09:00:00Z", `use ISO 8601`},
		{"01.03.2026", `use ISO 8601`},
		{"", `invalid timer date ""`},
	}
	for _, tt := range tests {
		_, err := ParseDate(tt.in)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Kind != KindDate {
			t.Errorf("ParseDate(%q) err = %v, want a date *ParseError", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseDate(%q) err = %q, want it to contain %q", tt.in, err, tt.msg)
		}
	}
}

// fireAll runs a schedule the way the engine does: First at now, then Next
// from each due date with the count so far, until it stops or limit.
func fireAll(t *testing.T, s Schedule, now time.Time, limit int) []time.Time {
	t.Helper()
	var fires []time.Time
	due, ok := s.First(now)
	for ok && len(fires) < limit {
		if len(fires) > 0 && !due.After(fires[len(fires)-1]) {
			t.Fatalf("fire times not increasing: %v after %v", due, fires)
		}
		fires = append(fires, due)
		due, ok = s.Next(due, len(fires))
	}
	return fires
}

func TestCycleRepeating(t *testing.T) {
	t.Parallel()
	now := utc(2026, 1, 31, 10, 0, 0)
	tests := []struct {
		in      string
		now     time.Time
		reps    int
		bounded bool
		want    []time.Time // all fire times (bounded), or the first ones
	}{
		{"R3/PT10M", now, 3, true, []time.Time{
			utc(2026, 1, 31, 10, 10, 0), utc(2026, 1, 31, 10, 20, 0), utc(2026, 1, 31, 10, 30, 0)}},
		{"R1/P1D", now, 1, true, []time.Time{utc(2026, 2, 1, 10, 0, 0)}},
		{"R/PT1H", now, 0, false, []time.Time{
			utc(2026, 1, 31, 11, 0, 0), utc(2026, 1, 31, 12, 0, 0), utc(2026, 1, 31, 13, 0, 0)}},
		// With a start date the occurrences are fixed.
		{"R5/2026-01-01T10:00:00Z/P1D", utc(2025, 12, 31, 0, 0, 0), 5, true, []time.Time{
			utc(2026, 1, 1, 10, 0, 0), utc(2026, 1, 2, 10, 0, 0), utc(2026, 1, 3, 10, 0, 0),
			utc(2026, 1, 4, 10, 0, 0), utc(2026, 1, 5, 10, 0, 0)}},
		// Starting exactly at the start date fires at once.
		{"R2/2026-01-01T10:00:00Z/PT30M", utc(2026, 1, 1, 10, 0, 0), 2, true, []time.Time{
			utc(2026, 1, 1, 10, 0, 0), utc(2026, 1, 1, 10, 30, 0)}},
		// Past occurrences are skipped and count against the five.
		{"R5/2026-01-01T10:00:00Z/P1D", utc(2026, 1, 3, 12, 0, 0), 5, true, []time.Time{
			utc(2026, 1, 4, 10, 0, 0), utc(2026, 1, 5, 10, 0, 0)}},
		{"R5/2026-01-01T10:00:00Z/P1D", utc(2026, 2, 1, 0, 0, 0), 5, true, nil},
		// Monthly from a month end: computed from the start, no drift.
		{"R/2026-01-31T09:00:00Z/P1M", utc(2026, 1, 1, 0, 0, 0), 0, false, []time.Time{
			utc(2026, 1, 31, 9, 0, 0), utc(2026, 2, 28, 9, 0, 0), utc(2026, 3, 31, 9, 0, 0),
			utc(2026, 4, 30, 9, 0, 0), utc(2026, 5, 31, 9, 0, 0)}},
		// A start date without offset is in the location (UTC here).
		{"R2/2026-06-01T08:00/PT12H", utc(2026, 5, 1, 0, 0, 0), 2, true, []time.Time{
			utc(2026, 6, 1, 8, 0, 0), utc(2026, 6, 1, 20, 0, 0)}},
		// With an end date nothing fires after it.
		{"R/PT1M/2026-01-31T10:03:00Z", now, 0, false, []time.Time{
			utc(2026, 1, 31, 10, 1, 0), utc(2026, 1, 31, 10, 2, 0), utc(2026, 1, 31, 10, 3, 0)}},
		{"R2/PT1M/2026-01-31T10:03:00Z", now, 2, true, []time.Time{
			utc(2026, 1, 31, 10, 1, 0), utc(2026, 1, 31, 10, 2, 0)}},
		{"R/PT1M/2026-01-01T00:00:00Z", now, 0, false, nil},
	}
	for _, tt := range tests {
		c, err := ParseCycle(tt.in)
		if err != nil {
			t.Errorf("ParseCycle(%q): %v", tt.in, err)
			continue
		}
		if n, bounded := c.Repetitions(); n != tt.reps || bounded != tt.bounded {
			t.Errorf("ParseCycle(%q).Repetitions() = %d, %v; want %d, %v", tt.in, n, bounded, tt.reps, tt.bounded)
		}
		if c.String() != tt.in {
			t.Errorf("String() = %q, want %q", c.String(), tt.in)
		}
		limit := len(tt.want)
		if tt.bounded || tt.want == nil {
			limit = 1000
		}
		got := fireAll(t, c, tt.now, limit)
		if !equalTimes(got, tt.want) {
			t.Errorf("%s from %v fires at\n%v\nwant\n%v", tt.in, tt.now, got, tt.want)
		}
	}
}

// TestCycleR3FiresThreeTimes pins the count whatever Next is asked.
func TestCycleR3FiresThreeTimes(t *testing.T) {
	t.Parallel()
	c, err := ParseCycle("R3/PT10M")
	if err != nil {
		t.Fatal(err)
	}
	now := utc(2026, 1, 1, 0, 0, 0)
	if got := fireAll(t, c, now, 100); len(got) != 3 {
		t.Fatalf("R3 fired %d times: %v", len(got), got)
	}
	for fired := range 3 {
		if _, ok := c.Next(now, fired); !ok {
			t.Errorf("Next after %d firings = false, want a time", fired)
		}
	}
	for _, fired := range []int{3, 4, 100} {
		if due, ok := c.Next(now, fired); ok {
			t.Errorf("Next after %d firings = %v, want none", fired, due)
		}
	}
}

func TestCycleNextJumpsFar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		after time.Time
		want  time.Time
	}{
		{"R/2026-01-01T00:00:00Z/PT1M", time.Date(2031, 6, 15, 12, 34, 56, 1, time.UTC), utc(2031, 6, 15, 12, 35, 0)},
		{"R/2026-01-01T00:00:00Z/PT1M", utc(2031, 6, 15, 12, 35, 0), utc(2031, 6, 15, 12, 36, 0)},
		{"R/2026-01-31T09:00:00Z/P1M", utc(2126, 2, 1, 0, 0, 0), utc(2126, 2, 28, 9, 0, 0)},
		{"R/2026-01-01T09:00:00Z/P1Y", utc(2525, 1, 1, 9, 0, 0), utc(2526, 1, 1, 9, 0, 0)},
		{"R/2026-01-01T00:00:00Z/PT0.5S", time.Date(2026, 1, 1, 0, 0, 10, 250_000_000, time.UTC), time.Date(2026, 1, 1, 0, 0, 10, 500_000_000, time.UTC)},
		{"R/2026-03-01T09:00:00Z/P1DT1H", utc(2026, 3, 3, 11, 0, 0), utc(2026, 3, 4, 12, 0, 0)},
		// Before the start, the start is next.
		{"R/2026-01-01T00:00:00Z/PT1M", utc(2020, 1, 1, 0, 0, 0), utc(2026, 1, 1, 0, 0, 0)},
	}
	for _, tt := range tests {
		c, err := ParseCycle(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := c.Next(tt.after, 0)
		if !ok || !got.Equal(tt.want) {
			t.Errorf("%s Next(%v) = %v, %v; want %v", tt.in, tt.after, got, ok, tt.want)
		}
	}
	// A bounded cycle knows its last occurrence even from far away.
	c, err := ParseCycle("R1000/2026-01-01T00:00:00Z/PT1M")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Next(utc(2026, 1, 1, 16, 38, 59), 10); !ok || !got.Equal(utc(2026, 1, 1, 16, 39, 0)) {
		t.Errorf("last occurrence = %v, %v; want 16:39", got, ok)
	}
	if got, ok := c.Next(utc(2026, 1, 1, 16, 39, 0), 10); ok {
		t.Errorf("after the last occurrence = %v, want none", got)
	}
}

func TestCycleStartInLocation(t *testing.T) {
	t.Parallel()
	berlin := mustLoad(t, "Europe/Berlin")
	// A daily cycle in Berlin keeps 09:00 local across the spring change.
	c, err := ParseCycleIn("R3/2026-03-28T09:00:00/P1D", berlin)
	if err != nil {
		t.Fatal(err)
	}
	got := fireAll(t, c, time.Date(2026, 3, 1, 0, 0, 0, 0, berlin), 10)
	want := []time.Time{utc(2026, 3, 28, 8, 0, 0), utc(2026, 3, 29, 7, 0, 0), utc(2026, 3, 30, 7, 0, 0)}
	if !equalTimes(got, want) {
		t.Errorf("fires %v, want %v", got, want)
	}
}

func TestCycleCron(t *testing.T) {
	t.Parallel()
	berlin := mustLoad(t, "Europe/Berlin")
	// 2026-01-31 is a Saturday.
	sat := utc(2026, 1, 31, 10, 0, 0)
	tests := []struct {
		in    string
		loc   *time.Location
		after time.Time
		want  []time.Time
	}{
		{"0 0 9 * * ?", nil, sat, []time.Time{utc(2026, 2, 1, 9, 0, 0), utc(2026, 2, 2, 9, 0, 0), utc(2026, 2, 3, 9, 0, 0)}},
		{"0 */5 * * * ?", nil, sat, []time.Time{utc(2026, 1, 31, 10, 5, 0), utc(2026, 1, 31, 10, 10, 0), utc(2026, 1, 31, 10, 15, 0)}},
		{"0 0 12 ? * MON-FRI", nil, sat, []time.Time{utc(2026, 2, 2, 12, 0, 0), utc(2026, 2, 3, 12, 0, 0), utc(2026, 2, 4, 12, 0, 0)}},
		// Quartz numbers days from 1 = Sunday: 2-6 is Monday to Friday.
		{"0 0 12 ? * 2-6", nil, sat, []time.Time{utc(2026, 2, 2, 12, 0, 0), utc(2026, 2, 3, 12, 0, 0), utc(2026, 2, 4, 12, 0, 0)}},
		{"0 0 12 ? * 1,7", nil, sat, []time.Time{utc(2026, 1, 31, 12, 0, 0), utc(2026, 2, 1, 12, 0, 0), utc(2026, 2, 7, 12, 0, 0)}},
		{"0 0 12 ? * 2/2", nil, sat, []time.Time{utc(2026, 2, 2, 12, 0, 0), utc(2026, 2, 4, 12, 0, 0), utc(2026, 2, 6, 12, 0, 0)}},
		{"0 0 12 ? * sun", nil, sat, []time.Time{utc(2026, 2, 1, 12, 0, 0), utc(2026, 2, 8, 12, 0, 0), utc(2026, 2, 15, 12, 0, 0)}},
		{"0 15 10 15 * ?", nil, sat, []time.Time{utc(2026, 2, 15, 10, 15, 0), utc(2026, 3, 15, 10, 15, 0), utc(2026, 4, 15, 10, 15, 0)}},
		{"0 0 8 1 JAN,JUL ?", nil, sat, []time.Time{utc(2026, 7, 1, 8, 0, 0), utc(2027, 1, 1, 8, 0, 0), utc(2027, 7, 1, 8, 0, 0)}},
		{"30 0 9 * * ? *", nil, sat, []time.Time{utc(2026, 2, 1, 9, 0, 30), utc(2026, 2, 2, 9, 0, 30), utc(2026, 2, 3, 9, 0, 30)}},
		{"0 0 0 29 2 ?", nil, sat, []time.Time{utc(2028, 2, 29, 0, 0, 0), utc(2032, 2, 29, 0, 0, 0), utc(2036, 2, 29, 0, 0, 0)}},
		// Standard five-field cron: minute first, 0 = Sunday.
		{"*/15 * * * *", nil, sat, []time.Time{utc(2026, 1, 31, 10, 15, 0), utc(2026, 1, 31, 10, 30, 0), utc(2026, 1, 31, 10, 45, 0)}},
		{"0 9 * * 1-5", nil, sat, []time.Time{utc(2026, 2, 2, 9, 0, 0), utc(2026, 2, 3, 9, 0, 0), utc(2026, 2, 4, 9, 0, 0)}},
		{"@daily", nil, sat, []time.Time{utc(2026, 2, 1, 0, 0, 0), utc(2026, 2, 2, 0, 0, 0), utc(2026, 2, 3, 0, 0, 0)}},
		// Cron fields are read in the location.
		{"0 0 9 * * ?", berlin, sat, []time.Time{utc(2026, 2, 1, 8, 0, 0), utc(2026, 2, 2, 8, 0, 0), utc(2026, 2, 3, 8, 0, 0)}},
		{"CRON_TZ=Europe/Berlin 0 0 9 * * ?", nil, sat, []time.Time{utc(2026, 2, 1, 8, 0, 0), utc(2026, 2, 2, 8, 0, 0), utc(2026, 2, 3, 8, 0, 0)}},
		{"CRON_TZ=UTC 0 0 9 * * ?", berlin, sat, []time.Time{utc(2026, 2, 1, 9, 0, 0), utc(2026, 2, 2, 9, 0, 0), utc(2026, 2, 3, 9, 0, 0)}},
		// Daylight saving in Berlin: 02:30 does not exist on 2026-03-29 and
		// happens twice on 2026-10-25.
		{"0 30 2 * * ?", berlin, utc(2026, 3, 28, 12, 0, 0), []time.Time{utc(2026, 3, 30, 0, 30, 0), utc(2026, 3, 31, 0, 30, 0)}},
		{"0 30 2 * * ?", berlin, utc(2026, 10, 24, 12, 0, 0), []time.Time{utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 25, 1, 30, 0), utc(2026, 10, 26, 1, 30, 0)}},
		{"0 0 9 * * ?", berlin, utc(2026, 3, 28, 12, 0, 0), []time.Time{utc(2026, 3, 29, 7, 0, 0), utc(2026, 3, 30, 7, 0, 0)}},
	}
	for _, tt := range tests {
		c, err := ParseCycleIn(tt.in, tt.loc)
		if err != nil {
			t.Errorf("ParseCycleIn(%q): %v", tt.in, err)
			continue
		}
		if n, bounded := c.Repetitions(); n != 0 || bounded {
			t.Errorf("%q Repetitions() = %d, %v; want unbounded", tt.in, n, bounded)
		}
		var got []time.Time
		after := tt.after
		for range tt.want {
			next, ok := c.Next(after, len(got))
			if !ok {
				break
			}
			got = append(got, next)
			after = next
		}
		if !equalTimes(got, tt.want) {
			t.Errorf("%s (%v) after %v fires at\n%v\nwant\n%v", tt.in, tt.loc, tt.after, got, tt.want)
		}
		// First is the first match strictly after now.
		if first, ok := c.First(tt.after); !ok || !first.Equal(tt.want[0]) {
			t.Errorf("%s First = %v, %v; want %v", tt.in, first, ok, tt.want[0])
		}
	}
}

func TestParseCycleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, msg string }{
		{"every day", `invalid timer cycle "every day": a cron expression has 6 or 7 fields with seconds (0 0 9 * * ?) or 5 without (0 9 * * *), found 2; use ISO 8601 like R3/PT10M`},
		{"PT10M", `found 1; use ISO 8601 like R3/PT10M or R/2026-03-01T09:00:00Z/P1D, or cron like 0 0 9 * * ?`},
		{"R0/PT1M", `R0 never fires`},
		{"Rx/PT1M", `"Rx" is not a repetition count`},
		{"R-1/PT1M", `"R-1" is not a repetition count`},
		{"R3", `a repeating interval has two or three parts`},
		{"R3/PT10M/P1D/x", `a repeating interval has two or three parts`},
		{"R3/10 minutes", `the interval "10 minutes" is not a duration (use PT10M)`},
		{"R3/P1H", `the interval "P1H" is not a duration (H must come after "T", as in PT1H)`},
		{"R3/-PT1M", `negative durations are not allowed`},
		{"R3/PT0S", `the interval must be longer than zero`},
		{"R3/2026-13-01T00:00:00Z/P1D", `the start "2026-13-01T00:00:00Z" is not a date (month 13 does not exist)`},
		{"R3/PT1M/tomorrow", `the end "tomorrow" is not a date`},
		{"R3/2026-01-01T00:00:00Z/2026-02-01T00:00:00Z", `two dates are not supported`},
		{"0 0 12 ? * 6L", `the Quartz day specials L, W and # (6L) are not supported`},
		{"0 0 12 L * ?", `(L) are not supported`},
		{"0 0 12 15W * ?", `(15W) are not supported`},
		{"0 0 12 ? * MON#2", `(MON#2) are not supported`},
		{"0 0 12 ? * 0", `day of week 0 does not exist: use 1 (SUN) to 7 (SAT)`},
		{"0 0 12 ? * 1-8", `day of week 8 does not exist`},
		{"0 0 9 * * ? 2027", `the year field must be * or ?`},
		{"0 0 25 * * ?", `end of range (25) above maximum (23)`},
		{"0 0 0 30 2 ?", `the cron expression never fires`},
		{"* * * *", `found 4`},
		{"0 0 0 0 0 0 0 0", `found 8`},
		{"@every 5m", `@every is not supported: write a repeating interval such as R/PT5M`},
		{"@sometimes", `unrecognized descriptor`},
		{"CRON_TZ=Mars/Olympus 0 0 9 * * ?", `unknown time zone "Mars/Olympus"`},
		{"TZ=UTC", `found 0`},
		{"CRON_TZ=UTC TZ=UTC", `give at most one CRON_TZ= prefix`},
		{"", `invalid timer cycle ""`},
	}
	for _, tt := range tests {
		_, err := ParseCycle(tt.in)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Kind != KindCycle {
			t.Errorf("ParseCycle(%q) err = %v, want a cycle *ParseError", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ParseCycle(%q) err = %q\nwant it to contain %q", tt.in, err, tt.msg)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	now := utc(2026, 1, 31, 10, 0, 0)
	tests := []struct {
		kind   Kind
		in     string
		first  time.Time
		second bool // whether Next after the first firing gives a time
	}{
		{KindDate, "2026-02-01T09:00:00Z", utc(2026, 2, 1, 9, 0, 0), false},
		{KindDate, "2026-01-01T09:00:00Z", utc(2026, 1, 1, 9, 0, 0), false}, // overdue: due at once
		{KindDuration, "PT5M", utc(2026, 1, 31, 10, 5, 0), false},
		{KindDuration, "P1M", utc(2026, 2, 28, 10, 0, 0), false},
		{KindCycle, "R2/PT1H", utc(2026, 1, 31, 11, 0, 0), true},
		{KindCycle, "0 0 9 * * ?", utc(2026, 2, 1, 9, 0, 0), true},
	}
	for _, tt := range tests {
		s, err := Parse(tt.kind, tt.in)
		if err != nil {
			t.Errorf("Parse(%v, %q): %v", tt.kind, tt.in, err)
			continue
		}
		first, ok := s.First(now)
		if !ok || !first.Equal(tt.first) {
			t.Errorf("Parse(%v, %q).First = %v, %v; want %v", tt.kind, tt.in, first, ok, tt.first)
		}
		if _, ok := s.Next(first, 1); ok != tt.second {
			t.Errorf("Parse(%v, %q).Next after one firing: ok = %v, want %v", tt.kind, tt.in, ok, tt.second)
		}
	}
	berlin := mustLoad(t, "Europe/Berlin")
	s, err := ParseIn(KindDate, "2026-02-01T09:00:00", berlin)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := s.First(now); !first.Equal(utc(2026, 2, 1, 8, 0, 0)) {
		t.Errorf("ParseIn(date, Berlin).First = %v, want 08:00 UTC", first)
	}
	for kind, in := range map[Kind]string{KindDate: "soon", KindDuration: "5 min", KindCycle: "often"} {
		_, err := Parse(kind, in)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Kind != kind {
			t.Errorf("Parse(%v, %q) err = %v, want a *ParseError of that kind", kind, in, err)
		}
	}
	if _, err := Parse(Kind(0), "PT5M"); err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("Parse(Kind(0)) err = %v, want unknown kind", err)
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for kind, want := range map[Kind]string{KindDate: "timeDate", KindDuration: "timeDuration", KindCycle: "timeCycle", Kind(9): "Kind(9)"} {
		if kind.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", kind, kind.String(), want)
		}
	}
}

func equalTimes(a, b []time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
