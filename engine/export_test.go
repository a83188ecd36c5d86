package engine

// Commits returns how many transactions e's commands and job batches have
// committed, for benchmarks that check what an instance costs.
func Commits(e *Engine) int64 { return e.commits.Load() }

// RoundTrips returns how many exchanges with the database e's store made
// (0 for a store that does not count them).
func RoundTrips(e *Engine) int64 {
	if c, ok := e.st.(interface{ RoundTrips() int64 }); ok {
		return c.RoundTrips()
	}
	return 0
}
