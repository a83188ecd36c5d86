package timer

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Cycle is a timeCycle schedule: an ISO 8601 repeating interval or a cron
// expression.
type Cycle struct {
	src      string
	reps     int // for a bounded cycle; 0 when unbounded
	bounded  bool
	interval Duration
	start    time.Time // zero: intervals count from the previous firing
	end      time.Time // zero: no end
	cron     *cron.SpecSchedule
}

// ParseCycle parses a timeCycle, reading dates without an offset and cron
// fields in UTC. It is ParseCycleIn(s, time.UTC).
func ParseCycle(s string) (*Cycle, error) { return ParseCycleIn(s, time.UTC) }

// ParseCycleIn parses a timeCycle. It accepts
//
//   - R3/PT10M: three times, every 10 minutes, the first 10 minutes after
//     the timer starts; R/PT1H repeats without end;
//   - R5/2026-01-01T10:00:00Z/P1D: five times, at the start date and then
//     every day; occurrences before the timer starts are skipped and count
//     against the five;
//   - R/PT1M/2026-01-01T18:00:00Z: every minute, none after the end date;
//   - cron with seconds as Camunda 7 and Quartz write it, 6 or 7 fields
//     (second minute hour day-of-month month day-of-week [year]): "0 0 9 * * ?",
//     "0 */5 * * * ?", "0 0 12 ? * MON-FRI". Day-of-week numbers count
//     Quartz's way, 1 = Sunday to 7 = Saturday; "?" means any; the year
//     field, if present, must be * or ?. Quartz's L, W and # are rejected;
//   - standard cron with 5 fields (minute hour day-of-month month
//     day-of-week, 0 = Sunday), and @yearly, @monthly, @weekly, @daily,
//     @midnight, @hourly;
//   - a CRON_TZ=Europe/Berlin prefix before a cron expression to use that
//     zone instead of loc.
//
// Dates without an offset and cron fields are read in loc (UTC when nil).
// The error is a *ParseError.
func ParseCycleIn(s string, loc *time.Location) (*Cycle, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "R") && !strings.HasPrefix(s, "R ") {
		return parseRepeating(s, loc)
	}
	return parseCron(s, loc)
}

func cycleError(s, format string, args ...any) *ParseError {
	return &ParseError{Kind: KindCycle, Input: s, Reason: fmt.Sprintf(format, args...)}
}

// parseRepeating parses Rn/interval, Rn/start/interval and Rn/interval/end.
func parseRepeating(s string, loc *time.Location) (*Cycle, error) {
	parts := strings.Split(s, "/")
	c := &Cycle{src: s}
	if count := parts[0][1:]; count != "" {
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return nil, cycleError(s, "%q is not a repetition count: write R3 for three times or R alone for no limit", parts[0])
		}
		if n == 0 {
			return nil, cycleError(s, "R0 never fires: write R1 or more, or R alone for no limit")
		}
		c.reps, c.bounded = n, true
	}
	isDuration := func(p string) bool { return strings.HasPrefix(p, "P") || strings.HasPrefix(p, "-P") }
	var durationText string
	switch {
	case len(parts) == 2:
		durationText = parts[1]
	case len(parts) == 3 && isDuration(parts[1]):
		durationText = parts[1]
		end, err := ParseDateIn(parts[2], loc)
		if err != nil {
			return nil, cycleError(s, "the end %q is not a date (%s)", parts[2], err.(*ParseError).reasonOr("use 2026-03-01T09:00:00Z"))
		}
		c.end = end
	case len(parts) == 3:
		if !isDuration(parts[2]) {
			return nil, cycleError(s, "give a start date and an interval, as in R5/2026-03-01T09:00:00Z/P1D; two dates are not supported")
		}
		durationText = parts[2]
		start, err := ParseDateIn(parts[1], loc)
		if err != nil {
			return nil, cycleError(s, "the start %q is not a date (%s)", parts[1], err.(*ParseError).reasonOr("use 2026-03-01T09:00:00Z"))
		}
		c.start = start
	default:
		return nil, cycleError(s, "a repeating interval has two or three parts separated by /")
	}
	d, err := ParseDuration(durationText)
	if err != nil {
		return nil, cycleError(s, "the interval %q is not a duration (%s)", durationText, err.(*ParseError).reasonOr("use PT10M"))
	}
	if d.IsZero() {
		return nil, cycleError(s, "the interval must be longer than zero")
	}
	c.interval = d
	return c, nil
}

func (e *ParseError) reasonOr(fallback string) string {
	if e.Reason != "" {
		return e.Reason
	}
	return fallback
}

var (
	quartzParser   = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	standardParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// parseCron parses a cron expression with robfig/cron after converting the
// Quartz dialect: "?" is accepted by robfig as "*" already, but Quartz's
// day-of-week numbers start at 1 = Sunday where robfig's start at 0.
func parseCron(s string, loc *time.Location) (*Cycle, error) {
	spec := s
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		zone, rest, _ := strings.Cut(spec[strings.IndexByte(spec, '=')+1:], " ")
		l, err := time.LoadLocation(zone)
		if err != nil || zone == "" {
			return nil, cycleError(s, "unknown time zone %q: use a name like Europe/Berlin", zone)
		}
		loc, spec = l, strings.TrimSpace(rest)
	}
	if strings.Contains(spec, "=") {
		return nil, cycleError(s, "give at most one CRON_TZ= prefix, before the fields")
	}
	if strings.HasPrefix(spec, "@every") {
		return nil, cycleError(s, "@every is not supported: write a repeating interval such as R/PT5M")
	}
	fields := strings.Fields(spec)
	parser := standardParser
	switch {
	case strings.HasPrefix(spec, "@"):
	case len(fields) == 5:
	case len(fields) == 6 || len(fields) == 7:
		if len(fields) == 7 {
			if y := fields[6]; y != "*" && y != "?" {
				return nil, cycleError(s, "the year field must be * or ?: specific years are not supported")
			}
			fields = fields[:6]
		}
		if err := quartzSpecials(fields); err != nil {
			return nil, cycleError(s, "%s", err)
		}
		dow, err := quartzDayOfWeek(fields[5])
		if err != nil {
			return nil, cycleError(s, "%s", err)
		}
		fields[5] = dow
		parser = quartzParser
		spec = strings.Join(fields, " ")
	default:
		return nil, cycleError(s, "a cron expression has 6 or 7 fields with seconds (0 0 9 * * ?) or 5 without (0 9 * * *), found %d", len(fields))
	}
	sched, err := parser.Parse(spec)
	if err != nil {
		return nil, cycleError(s, "%s", err)
	}
	spec2, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, cycleError(s, "unsupported cron expression")
	}
	spec2.Location = loc
	// robfig searches five years ahead; a schedule with no match from a
	// fixed reference date (February 30) can never fire.
	if spec2.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, cycleError(s, "the cron expression never fires")
	}
	return &Cycle{src: s, cron: spec2}, nil
}

var weekdayNames = map[string]bool{"SUN": true, "MON": true, "TUE": true, "WED": true, "THU": true, "FRI": true, "SAT": true}

// quartzSpecials rejects Quartz's L, W and # in day-of-month and day-of-week,
// which robfig/cron does not implement.
func quartzSpecials(fields []string) error {
	for _, tok := range strings.FieldsFunc(fields[3]+","+fields[5], func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if weekdayNames[strings.ToUpper(tok)] {
			continue
		}
		if strings.ContainsAny(strings.ToUpper(tok), "LW#") {
			return fmt.Errorf("the Quartz day specials L, W and # (%s) are not supported: list the days explicitly", tok)
		}
	}
	return nil
}

// quartzDayOfWeek converts day-of-week numbers from Quartz (1 = Sunday … 7 =
// Saturday) to robfig/cron (0 = Sunday … 6 = Saturday). Names, * and ? stay;
// in a/step only a is a day.
func quartzDayOfWeek(field string) (string, error) {
	items := strings.Split(field, ",")
	for i, item := range items {
		rangePart, step, hasStep := strings.Cut(item, "/")
		bounds := strings.Split(rangePart, "-")
		for j, b := range bounds {
			n, err := strconv.Atoi(b)
			if err != nil {
				continue // a name, * or ?: robfig reports anything else
			}
			if n < 1 || n > 7 {
				return "", fmt.Errorf("day of week %d does not exist: use 1 (SUN) to 7 (SAT) or names like MON-FRI", n)
			}
			bounds[j] = strconv.Itoa(n - 1)
		}
		items[i] = strings.Join(bounds, "-")
		if hasStep {
			items[i] += "/" + step
		}
	}
	return strings.Join(items, ","), nil
}

// Repetitions returns how many times the cycle fires in total, and whether
// that number is bounded; cron and R/… cycles are unbounded (0, false).
func (c *Cycle) Repetitions() (n int, bounded bool) { return c.reps, c.bounded }

// String returns the cycle as it was written.
func (c *Cycle) String() string { return c.src }

// First returns when a timer created at now fires first. For a cycle with a
// start date that is the first occurrence at or after now; for a cycle
// without, now plus the interval; for cron, the first match after now.
func (c *Cycle) First(now time.Time) (time.Time, bool) {
	if c.cron == nil && !c.start.IsZero() {
		// An occurrence exactly at now is due now, not one interval later.
		return c.Next(now.Add(-time.Nanosecond), 0)
	}
	return c.Next(now, 0)
}

// Next returns the first fire time strictly after after, given that the
// cycle already fired fired times, and false when it is exhausted. For a
// cycle without a start date the interval counts from after: pass the
// previous due date, not the time the job ran, so that the cycle does not
// drift. With a start date, occurrences are start + k × interval (computed
// from the start each time, so P1M from January 31 gives February 28, March
// 31, April 30).
func (c *Cycle) Next(after time.Time, fired int) (time.Time, bool) {
	if c.bounded && fired >= c.reps {
		return time.Time{}, false
	}
	switch {
	case c.cron != nil:
		t := c.cron.Next(after)
		return t, !t.IsZero()
	case c.start.IsZero():
		t := c.interval.AddTo(after)
		if !c.end.IsZero() && t.After(c.end) {
			return time.Time{}, false
		}
		return t, true
	}
	k := max(fired, 0)
	if after.After(c.start) {
		// Jump close to the answer, then step: the estimate is off by at
		// most a few intervals whatever the distance.
		secs := float64(after.Unix()-c.start.Unix()) + float64(after.Nanosecond()-c.start.Nanosecond())/1e9
		span := secs / c.interval.approx()
		if span >= 1<<62 {
			return time.Time{}, false
		}
		k = max(k, int(span)-2)
	}
	for k > fired {
		prev, ok := c.occurrence(k - 1)
		if !ok || !prev.After(after) {
			break
		}
		k--
	}
	for {
		if c.bounded && k >= c.reps {
			return time.Time{}, false
		}
		t, ok := c.occurrence(k)
		if !ok {
			return time.Time{}, false
		}
		if t.After(after) {
			return t, true
		}
		k++
	}
}

// occurrence returns start + k × interval.
func (c *Cycle) occurrence(k int) (time.Time, bool) {
	d, ok := c.interval.times(k)
	if !ok {
		return time.Time{}, false
	}
	return d.AddTo(c.start), true
}
