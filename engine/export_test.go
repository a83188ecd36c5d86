package engine

// Commits returns how many transactions e's commands and job batches have
// committed, for benchmarks that check what an instance costs.
func Commits(e *Engine) int64 { return e.commits.Load() }
