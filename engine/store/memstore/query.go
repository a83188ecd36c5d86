package memstore

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Queries run over copies of the tenant's rows: a row's fields are read by
// their Go names (the Fields of package store), compared as the SQL store
// compares its columns.

// List implements store.Store.
func (s *Store) List(ctx context.Context, q *store.Query) ([]any, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", core.ErrInvalid, err)
	}
	var out []any
	err := s.in(ctx, func(t *tenant) error {
		rows, err := t.selectRows(q)
		if err != nil {
			return err
		}
		sortRows(rows, q)
		if q.Offset > 0 {
			rows = rows[min(q.Offset, len(rows)):]
		}
		if q.Limit > 0 {
			rows = rows[:min(q.Limit, len(rows))]
		}
		if q.Entity == store.Jobs {
			for i, r := range rows {
				j := r.(*core.JobRow).Job
				rows[i] = &j
			}
		}
		out = rows
		return nil
	})
	return out, err
}

// Count implements store.Store.
func (s *Store) Count(ctx context.Context, q *store.Query) (int64, error) {
	if err := q.Check(); err != nil {
		return 0, fmt.Errorf("%w: %v", core.ErrInvalid, err)
	}
	var n int64
	err := s.in(ctx, func(t *tenant) error {
		rows, err := t.selectRows(q)
		n = int64(len(rows))
		return err
	})
	return n, err
}

// rows returns copies of every row of an entity, as List returns them.
func (t *tenant) rows(e store.Entity) []any {
	var out []any
	switch e {
	case store.Instances:
		for _, r := range t.instances {
			p := r.ProcessInstance
			out = append(out, &p)
		}
	case store.Tasks:
		for _, r := range t.tasks {
			c := copyTask(r)
			out = append(out, &c)
		}
	case store.ExternalTasks:
		for _, r := range t.extTasks {
			c := copyExt(r)
			out = append(out, &c)
		}
	case store.Jobs:
		// Filtered as rows (a job's definition key is storage's), listed
		// as jobs.
		for _, r := range t.jobs {
			c := *r
			out = append(out, &c)
		}
	case store.Incidents:
		for _, r := range t.incidents {
			c := *r
			out = append(out, &c)
		}
	case store.Activities:
		for _, r := range t.acts {
			c := *r
			out = append(out, &c)
		}
	case store.Definitions:
		for _, r := range t.definitions {
			c := r.ProcessDefinition
			out = append(out, &c)
		}
	case store.Deployments:
		for id := range t.deployments {
			d, _ := t.deployment(id)
			out = append(out, d)
		}
	}
	return out
}

func (t *tenant) selectRows(q *store.Query) ([]any, error) {
	var out []any
	for _, r := range t.rows(q.Entity) {
		ok, err := t.matchAll(q.Entity, r, q.Where)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (t *tenant) matchAll(e store.Entity, row any, conds []store.Cond) (bool, error) {
	for _, c := range conds {
		ok, err := t.match(e, row, c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (t *tenant) match(e store.Entity, row any, c store.Cond) (bool, error) {
	switch {
	case c.Any != nil:
		for _, a := range c.Any {
			ok, err := t.match(e, row, a)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case c.Related != nil:
		return t.related(e, row, c.Related)
	case e == store.Definitions && c.Field == store.LatestVersion:
		d := row.(*core.ProcessDefinition)
		return (t.latestVersion(d.Key) == d.Version) == (c.Value == true), nil
	}
	return compare(field(row, c.Field), store.Nullable(e, c.Field), c)
}

// related holds when a row of another entity belonging to row meets every
// condition.
func (t *tenant) related(e store.Entity, row any, r *store.Related) (bool, error) {
	var owner int64
	switch {
	case e == store.Instances:
		owner = row.(*core.ProcessInstance).ID
	case e == store.Tasks:
		owner = row.(*core.Task).InstanceID
	}
	switch r.Entity {
	case store.Incidents:
		for _, i := range t.incidents {
			if i.InstanceID == owner {
				c := *i
				if ok, err := t.matchAll(r.Entity, &c, r.Where); ok || err != nil {
					return ok, err
				}
			}
		}
	case store.Instances:
		if i := t.instances[owner]; i != nil {
			p := i.ProcessInstance
			return t.matchAll(r.Entity, &p, r.Where)
		}
	case store.ProcessVariables:
		for _, v := range t.vars {
			if v.ScopeID != owner {
				continue
			}
			ok := true
			for _, c := range r.Where {
				var m bool
				var err error
				if c.Field == store.Value {
					m, err = compareValue(v.Val, c)
				} else {
					m, err = compare(reflect.ValueOf(v.Name), false, c)
				}
				if err != nil {
					return false, err
				}
				ok = ok && m
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// field reads a row's field by its Go name.
func field(row any, f store.Field) reflect.Value {
	return reflect.ValueOf(row).Elem().FieldByName(string(f))
}

// compare tests a field's value against a condition, as SQL would compare
// its column: a nullable field without a value is NULL, the others hold 0
// or ”; lists are matched by member.
func compare(v reflect.Value, nullable bool, c store.Cond) (bool, error) {
	null := nullable && isZero(v)
	switch c.Op {
	case store.IsNull:
		return isZero(v), nil
	case store.NotNull:
		return !isZero(v), nil
	}
	if null {
		return false, nil // NULL compares to nothing
	}
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch c.Op {
	case store.Has:
		list, _ := v.Interface().([]string)
		s, _ := c.Value.(string)
		return slices.Contains(list, s), nil
	case store.In:
		for _, x := range c.Values {
			if cmp(v, x) == 0 {
				return true, nil
			}
		}
		return false, nil
	case store.Like:
		s, _ := c.Value.(string)
		return like(s).MatchString(v.String()), nil
	}
	return holds(c.Op, cmp(v, c.Value))
}

// isZero reports a field without a value: a nil pointer, a zero time, 0
// or ”.
func isZero(v reflect.Value) bool { return v.IsZero() }

func holds(op store.Op, c int) (bool, error) {
	switch op {
	case store.Eq:
		return c == 0, nil
	case store.Ne:
		return c != 0, nil
	case store.Lt:
		return c < 0, nil
	case store.Le:
		return c <= 0, nil
	case store.Gt:
		return c > 0, nil
	case store.Ge:
		return c >= 0, nil
	}
	return false, fmt.Errorf("%w: unknown comparison %d", core.ErrInvalid, op)
}

// cmp orders a field's value against a query value of a like kind.
func cmp(v reflect.Value, x any) int {
	switch v.Kind() {
	case reflect.String:
		return strings.Compare(v.String(), fmt.Sprint(x))
	case reflect.Bool:
		b, _ := x.(bool)
		switch {
		case v.Bool() == b:
			return 0
		case b:
			return -1
		}
		return 1
	case reflect.Int, reflect.Int32, reflect.Int64:
		return cmpFloat(float64(v.Int()), number(x))
	}
	if t, ok := v.Interface().(time.Time); ok {
		xt, _ := x.(time.Time)
		return cmpFloat(float64(store.Millis(t)), float64(store.Millis(xt)))
	}
	return strings.Compare(fmt.Sprint(v.Interface()), fmt.Sprint(x))
}

func number(x any) float64 {
	switch n := x.(type) {
	case int:
		return float64(n)
	case int32:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareValue compares a variable's value with a condition's, as the SQL
// store compares its typed columns: numbers with numbers, strings with
// strings, dates and booleans as the numbers they are stored as.
func compareValue(v core.Value, c store.Cond) (bool, error) {
	if c.Op == store.IsNull {
		return v.Type == core.TypeNull, nil
	}
	want, err := core.ValueOf(c.Value)
	if err != nil {
		return false, err
	}
	have, err := v.Columns()
	if err != nil {
		return false, err
	}
	w, err := want.Columns()
	if err != nil {
		return false, err
	}
	switch {
	case w.Long != nil || w.Double != nil:
		a, ok := numeric(have)
		if !ok {
			return false, nil
		}
		b, _ := numeric(w)
		if c.Op == store.Like {
			return false, nil
		}
		return holds(c.Op, cmpFloat(a, b))
	case w.Text != nil:
		if have.Text == nil {
			return false, nil
		}
		if c.Op == store.Like {
			return like(*w.Text).MatchString(*have.Text), nil
		}
		return holds(c.Op, strings.Compare(*have.Text, *w.Text))
	}
	return v.Type == core.TypeNull, nil
}

func numeric(c core.Columns) (float64, bool) {
	switch {
	case c.Long != nil:
		return float64(*c.Long), true
	case c.Double != nil:
		return *c.Double, true
	}
	return 0, false
}

// like turns a SQL LIKE pattern into a regular expression.
func like(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// sortRows orders rows by the query's sort keys (or the entity's
// default), the ID breaking ties in the direction of the first key.
func sortRows(rows []any, q *store.Query) {
	sorts := q.Sort
	if len(sorts) == 0 {
		sorts = []store.Sort{{Field: store.DefaultSort(q.Entity)}}
	}
	slices.SortStableFunc(rows, func(a, b any) int {
		for _, s := range sorts {
			c := cmpFields(field(a, s.Field), field(b, s.Field), store.Nullable(q.Entity, s.Field))
			if s.Desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		c := cmpFields(field(a, "ID"), field(b, "ID"), false)
		if sorts[0].Desc {
			c = -c
		}
		return c
	})
}

// cmpFields orders two values of one field; NULL sorts last, as
// PostgreSQL sorts it ascending.
func cmpFields(a, b reflect.Value, nullable bool) int {
	an, bn := nullable && isZero(a), nullable && isZero(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	if a.Kind() == reflect.Pointer {
		a, b = a.Elem(), b.Elem()
	}
	return cmp(a, b.Interface())
}
