package timer_test

import (
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/engine/timer"
)

func ExampleParse() {
	now := time.Date(2026, 1, 30, 10, 0, 0, 0, time.UTC)
	s, err := timer.Parse(timer.KindCycle, "R3/PT10M")
	if err != nil {
		fmt.Println(err)
		return
	}
	due, ok := s.First(now)
	for fired := 1; ok; fired++ {
		fmt.Println(due.Format(time.TimeOnly))
		due, ok = s.Next(due, fired)
	}
	// Output:
	// 10:10:00
	// 10:20:00
	// 10:30:00
}

func ExampleParseCycle_cron() {
	c, err := timer.ParseCycle("0 0 12 ? * MON-FRI")
	if err != nil {
		fmt.Println(err)
		return
	}
	friday := time.Date(2026, 1, 30, 12, 0, 0, 0, time.UTC)
	next, _ := c.Next(friday, 1)
	fmt.Println(next.Format("Mon 2006-01-02 15:04"))
	// Output: Mon 2026-02-02 12:00
}

func ExampleDuration_AddTo() {
	d, err := timer.ParseDuration("P1M")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.AddTo(time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)).Format(time.DateOnly))
	// Output: 2026-02-28
}

func ExampleParseDuration_error() {
	_, err := timer.ParseDuration("5 min")
	fmt.Println(err)
	// Output: invalid timer duration "5 min": use ISO 8601 like PT5M, PT1H30M or P1D
}
