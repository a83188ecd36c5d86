package core

// slab hands out pointers to zeroed values carved from chunks, so a unit of
// work that creates dozens of small rows (events, activity instances,
// variable updates) makes a few allocations instead of one per row. A
// chunk is never grown in place: pointers already handed out stay valid.
type slab[T any] struct{ buf []T }

func (s *slab[T]) new() *T {
	if len(s.buf) == cap(s.buf) {
		n := 2 * cap(s.buf)
		if n < 4 {
			n = 4
		}
		if n > 64 {
			n = 64
		}
		s.buf = make([]T, 0, n)
	}
	s.buf = s.buf[:len(s.buf)+1]
	return &s.buf[len(s.buf)-1]
}

// unitSlabs are the slabs of one unit of work.
type unitSlabs struct {
	events     slab[Event]
	acts       slab[ActivityRow]
	varUpdates slab[VariableUpdate]
	vars       slab[VariableRow]
	execs      slab[Execution]
}

// appendRow appends to a unit's row list, starting it with room for a
// typical command's rows instead of growing it one doubling at a time.
func appendRow[T any](rows []*T, r *T) []*T {
	if rows == nil {
		rows = make([]*T, 0, 8)
	}
	return append(rows, r)
}
