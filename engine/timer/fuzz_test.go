package timer

import (
	"testing"
	"time"
)

// FuzzParse checks that no text makes a parser or a schedule panic, that a
// parsed duration survives String, and that Next moves forward.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"PT5M", "P1Y2M3W4DT5H6M7.5S", "-PT1S", "R3/PT10M", "R/2026-01-01T10:00:00Z/P1D",
		"R/PT1M/2026-01-01T00:00:00Z", "0 0 12 ? * 2-6", "*/5 * * * *", "@daily",
		"CRON_TZ=Europe/Berlin 0 0 9 * * ?", "TZ=", "2026-03-01T09:00:00+01:00", "0 0 12 ? * 1/9,SUN-2",
	} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil {
			again, err := ParseDuration(d.String())
			if err != nil || again != d {
				t.Fatalf("ParseDuration(%q) = %+v; its String %q parses as %+v, %v", s, d, d.String(), again, err)
			}
			d.AddTo(now)
		}
		_, _ = ParseDate(s)
		c, err := ParseCycle(s)
		if err != nil {
			return
		}
		due, ok := c.First(now)
		for i := 0; ok && i < 3; i++ {
			next, more := c.Next(due, i+1)
			if more && !next.After(due) {
				t.Fatalf("%q: Next(%v) = %v, not after", s, due, next)
			}
			due, ok = next, more
		}
	})
}
