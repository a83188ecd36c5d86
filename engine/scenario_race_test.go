//go:build race

package engine_test

// raceEnabled is true when the tests run with the race detector, which
// makes the pure-Go SQLite driver several times slower.
const raceEnabled = true
