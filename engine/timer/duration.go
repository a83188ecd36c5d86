package timer

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is an ISO 8601 duration such as P1Y2M, P2W, P1DT2H or PT0.5S.
// Years, months, weeks and days are calendar units whose length depends on
// the date they are added to, so a Duration is applied with AddTo rather than
// converted to a time.Duration.
type Duration struct {
	// Years and Months are added to the calendar date, keeping the day of
	// the month unless the target month is shorter.
	Years, Months int
	// Weeks and Days are added to the calendar date, keeping the wall-clock
	// time across daylight-saving changes.
	Weeks, Days int
	// Clock holds the hours, minutes and seconds, added as elapsed time.
	Clock time.Duration
}

// maxCalendar bounds each calendar component; anything larger is a typo.
const maxCalendar = 100_000

// clockUnit gives the length of the time components by their rank in
// "YMWDHMS".
var clockUnit = [...]time.Duration{4: time.Hour, 5: time.Minute, 6: time.Second}

// ParseDuration parses an ISO 8601 duration: PnYnMnWnDTnHnMnS with at least
// one component, components in that order, each at most once; the last one
// may have a decimal fraction if it is hours, minutes or seconds (PT0.5S,
// PT1.5H). P2W means 14 days and may be combined with other components.
// Negative durations are rejected. Surrounding whitespace is ignored. The
// error is a *ParseError.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	fail := func(reason string) (Duration, error) {
		return Duration{}, &ParseError{Kind: KindDuration, Input: s, Reason: reason}
	}
	switch {
	case strings.HasPrefix(s, "-"):
		return fail("negative durations are not allowed")
	case !strings.HasPrefix(s, "P"):
		return fail("")
	case s == "P":
		return fail("give at least one component after P")
	}
	var d Duration
	const order = "YMWDHMS" // M appears twice: months before T, minutes after
	rank := -1              // index in order of the last component read
	inTime := false
	fraction := false
	for i := 1; i < len(s); {
		if s[i] == 'T' {
			if inTime {
				return fail(`"T" may appear only once`)
			}
			inTime = true
			rank = max(rank, 3)
			i++
			if i == len(s) {
				return fail(`give hours, minutes or seconds after "T", as in PT5M`)
			}
			continue
		}
		if fraction {
			return fail("only the last component may have a fraction")
		}
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == ',') {
			j++
		}
		if j == i {
			return fail(fmt.Sprintf("expected a number at %q", s[i:]))
		}
		if j == len(s) {
			return fail(fmt.Sprintf("the number %s needs a unit (Y, M, W, D, H, M or S)", s[i:j]))
		}
		num := strings.ReplaceAll(s[i:j], ",", ".")
		unit := s[j]
		i = j + 1
		r := strings.IndexByte(order, unit)
		if inTime && unit == 'M' {
			r = 5
		}
		switch {
		case r < 0:
			return fail(fmt.Sprintf("unknown unit %q: use Y, M, W, D before T and H, M, S after it", unit))
		case r >= 4 && !inTime:
			return fail(fmt.Sprintf(`%c must come after "T", as in PT1%c`, unit, unit))
		case r < 4 && inTime:
			return fail(fmt.Sprintf(`%c must come before "T", as in P1%c`, unit, unit))
		case r <= rank:
			return fail("components must appear once each, in the order Y M W D T H M S")
		}
		rank = r
		if strings.Contains(num, ".") {
			if r < 4 {
				return fail("only hours, minutes and seconds may have a fraction")
			}
			fraction = true
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return fail(fmt.Sprintf("%q is not a number", num))
			}
			v := math.Round(f * float64(clockUnit[r]))
			if v >= float64(math.MaxInt64-d.Clock) {
				return fail("it is too long")
			}
			d.Clock += time.Duration(v)
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || (r < 4 && n > maxCalendar) {
			return fail(fmt.Sprintf("%s%c is too long", num, unit))
		}
		switch r {
		case 0:
			d.Years = int(n)
		case 1:
			d.Months = int(n)
		case 2:
			d.Weeks = int(n)
		case 3:
			d.Days = int(n)
		default:
			if n > int64(math.MaxInt64-d.Clock)/int64(clockUnit[r]) {
				return fail(fmt.Sprintf("%s%c is too long", num, unit))
			}
			d.Clock += time.Duration(n) * clockUnit[r]
		}
	}
	return d, nil
}

// AddTo returns t plus d, in t's location. Years and months come first and
// keep the day of the month, clamped to the last day of a shorter month
// (January 31 plus P1M is February 28, or 29 in a leap year; the day is not
// carried into March). Weeks and days come next and keep the wall-clock time,
// so P1D across a daylight-saving change is 23 or 25 hours. Hours, minutes
// and seconds come last, as elapsed time: PT24H is always 24 hours.
func (d Duration) AddTo(t time.Time) time.Time {
	if d.Years != 0 || d.Months != 0 {
		y, m, day := t.Date()
		months := int(m) - 1 + d.Months + 12*d.Years
		y += floorDiv(months, 12)
		m = time.Month(months-12*floorDiv(months, 12)) + 1
		day = min(day, daysIn(y, m))
		hh, mm, ss := t.Clock()
		t = time.Date(y, m, day, hh, mm, ss, t.Nanosecond(), t.Location())
	}
	if days := d.Days + 7*d.Weeks; days != 0 {
		t = t.AddDate(0, 0, days)
	}
	return t.Add(d.Clock)
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// IsZero reports whether d has no length, as PT0S.
func (d Duration) IsZero() bool { return d == Duration{} }

// String returns d in ISO 8601, normalising the clock part: PT90M is PT1H30M.
func (d Duration) String() string {
	if d.IsZero() {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteByte('P')
	for _, c := range []struct {
		n    int
		unit byte
	}{{d.Years, 'Y'}, {d.Months, 'M'}, {d.Weeks, 'W'}, {d.Days, 'D'}} {
		if c.n != 0 {
			b.WriteString(strconv.Itoa(c.n))
			b.WriteByte(c.unit)
		}
	}
	if d.Clock != 0 {
		b.WriteByte('T')
		h := d.Clock / time.Hour
		m := (d.Clock % time.Hour) / time.Minute
		s := d.Clock % time.Minute
		if h != 0 {
			fmt.Fprintf(&b, "%dH", h)
		}
		if m != 0 {
			fmt.Fprintf(&b, "%dM", m)
		}
		if s != 0 {
			b.WriteString(strconv.FormatFloat(s.Seconds(), 'f', -1, 64))
			b.WriteByte('S')
		}
	}
	return b.String()
}

// First returns now plus d.
func (d Duration) First(now time.Time) (time.Time, bool) { return d.AddTo(now), true }

// Next returns false: a duration fires once.
func (d Duration) Next(time.Time, int) (time.Time, bool) { return time.Time{}, false }

// times returns d with every component multiplied by k, and false if the
// result would overflow.
func (d Duration) times(k int) (Duration, bool) {
	if k == 0 {
		return Duration{}, true
	}
	if d.Clock != 0 && (int64(k) > math.MaxInt64/int64(d.Clock)) {
		return Duration{}, false
	}
	for _, n := range []int{d.Years, d.Months, d.Weeks, d.Days} {
		if n != 0 && k > maxCalendar*1000/n {
			return Duration{}, false
		}
	}
	return Duration{
		Years: d.Years * k, Months: d.Months * k, Weeks: d.Weeks * k, Days: d.Days * k,
		Clock: d.Clock * time.Duration(k),
	}, true
}

// approx returns the average length of d in seconds, using the Gregorian
// average year; it is used only to estimate how many intervals fit a span.
func (d Duration) approx() float64 {
	const day = 86400.0
	return float64(d.Years)*365.2425*day + float64(d.Months)*30.436875*day +
		float64(d.Weeks)*7*day + float64(d.Days)*day + d.Clock.Seconds()
}
