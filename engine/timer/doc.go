// Package timer parses BPMN timer definitions and computes when they fire.
//
// A timerEventDefinition holds one of three elements, each a string in the
// model; [Parse] takes the [Kind] and the string and returns a [Schedule]:
//
//	timeDate      ISO 8601 date-time   2026-03-01T09:00:00Z, 2026-03-01T09:00:00+01:00,
//	                                   2026-03-01T09:00 (in the given location), 2026-03-01
//	timeDuration  ISO 8601 duration    PT5M, PT1H30M, P1D, P1DT2H, P2W, P1Y2M, PT0.5S
//	timeCycle     repeating interval   R3/PT10M, R/PT1H, R5/2026-01-01T10:00:00Z/P1D,
//	                                   R/PT1M/2026-01-01T18:00:00Z
//	              cron                 0 0 9 * * ?, 0 */5 * * * ?, 0 0 12 ? * MON-FRI,
//	                                   */5 * * * *, @daily, CRON_TZ=Europe/Berlin 0 0 9 * * ?
//
// Models may compute a definition with an expression, ${reminderDelay}: the
// engine evaluates it first and passes the resulting string here. Surrounding
// whitespace is ignored, since XML text often has some. Every error is a
// [*ParseError] whose message says what is wrong and shows valid examples:
//
//	invalid timer duration "5 min": use ISO 8601 like PT5M, PT1H30M or P1D
//
// # Time
//
// Nothing here reads the clock: [Schedule.First] takes the current time and
// [Schedule.Next] the previous due date, so tests and the engine control
// time. A date or time of day without an offset, and the fields of a cron
// expression, are read in the location given to [ParseIn] (UTC by default and
// for [Parse]). A date alone means the start of that day.
//
// # Calendar arithmetic
//
// [Duration.AddTo] adds years and months first, keeping the day of the month
// but clamping it to the last day of a shorter month: January 31 plus P1M is
// February 28 (29 in a leap year), and never March 3. This is the rule of XML
// Schema durations and of java.time. Weeks and days come next and keep the
// wall-clock time across daylight-saving changes, so P1D from 10:00 is 10:00
// the next day even when that day has 23 or 25 hours. Hours, minutes and
// seconds come last and are elapsed time: PT24H is always 24 hours. A cycle
// with a start date computes its k-th occurrence as start + k × interval from
// the start each time, so P1M from January 31 fires on February 28, March 31
// and April 30 rather than drifting to the 28th.
//
// # Cycles
//
// Rn/interval fires n times, the first one interval after the timer starts;
// R/interval never stops. The interval counts from the previous due date
// passed to Next. With a start date the occurrences are fixed in time:
// Rn/start/interval fires at start, start + interval, … and occurrences
// already past when the timer starts are skipped but still count against n.
// Rn/interval/end stops after end. A cycle between two dates is rejected.
//
// Cron expressions are parsed by github.com/robfig/cron/v3. Six or seven
// fields are Camunda's and Quartz's dialect, with seconds first: "?" means
// any, day-of-week numbers run from 1 = Sunday to 7 = Saturday (converted
// here, since robfig/cron counts from 0), names such as MON-FRI work, and a
// seventh year field must be * or ?. Quartz's L, W and # are rejected. Five
// fields are standard cron (minute first, 0 = Sunday). Cron times follow the
// wall clock of their location: a time that a daylight-saving change skips
// does not fire that day, and one that it repeats fires at both instants.
// Cron cycles are unbounded.
package timer
