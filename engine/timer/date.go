package timer

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// dateRE matches the ISO 8601 extended forms that BPMN models use:
// 2026-03-01, 2026-03-01T09:00, 2026-03-01T09:00:00, with fractional seconds,
// and with Z or an offset (+01:00, +0100, +01).
var dateRE = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$`)

// ParseDate parses an ISO 8601 date-time, reading one without an offset as
// UTC. It is ParseDateIn(s, time.UTC).
func ParseDate(s string) (time.Time, error) { return ParseDateIn(s, time.UTC) }

// ParseDateIn parses an ISO 8601 date-time such as 2026-03-01T09:00:00Z,
// 2026-03-01T09:00:00.250+01:00 or 2026-03-01T09:00. Seconds and their
// fraction are optional. Without Z or an offset the wall time is read in loc
// (UTC when nil); a wall time that a daylight-saving change skips or repeats
// resolves as time.Date does. A date alone, 2026-03-01, means the start of
// that day in loc. Surrounding whitespace is ignored. The error is a
// *ParseError.
func ParseDateIn(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimSpace(s)
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		reason := ""
		if strings.Contains(s, " ") && !strings.Contains(s, "T") {
			reason = `separate the date and the time with "T"`
		}
		return time.Time{}, &ParseError{Kind: KindDate, Input: s, Reason: reason}
	}
	fail := func(format string, args ...any) (time.Time, error) {
		return time.Time{}, &ParseError{Kind: KindDate, Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
	year, month, day := num(1), num(2), num(3)
	if month < 1 || month > 12 {
		return fail("month %d does not exist", month)
	}
	if day < 1 || day > daysIn(year, time.Month(month)) {
		return fail("%s %d has no day %d", time.Month(month), year, day)
	}
	hour, minute, sec, nsec := num(4), num(5), num(6), 0
	if hour > 23 {
		return fail("hour %d does not exist (use 00 to 23)", hour)
	}
	if minute > 59 || sec > 59 {
		return fail("minutes and seconds go from 00 to 59")
	}
	if frac := m[7]; frac != "" {
		nsec, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
	}
	switch zone := m[8]; {
	case zone == "Z":
		loc = time.UTC
	case zone != "":
		digits := strings.ReplaceAll(zone[1:], ":", "")
		oh, _ := strconv.Atoi(digits[:2])
		om := 0
		if len(digits) == 4 {
			om, _ = strconv.Atoi(digits[2:])
		}
		if oh > 18 || om > 59 || (oh == 18 && om > 0) {
			return fail("offset %s is out of range (-18:00 to +18:00)", zone)
		}
		offset := (oh*60 + om) * 60
		if zone[0] == '-' {
			offset = -offset
		}
		loc = time.UTC
		if offset != 0 {
			loc = time.FixedZone("", offset)
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), nil
}

// daysIn returns the number of days of month m in year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
