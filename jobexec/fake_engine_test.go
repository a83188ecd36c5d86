package jobexec

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// fakeEngine is an in-memory Engine with the semantics of the real one:
// per-tenant jobs, acquisition that skips rows held by open transactions
// (SKIP LOCKED), lock owner/expiry/revision fencing, one transaction per
// ExecuteJobs call that commits all or nothing, retries with backoff and
// incidents, signals after commit. Tests configure what jobs do (fail,
// panic, block), make a tenant's "database" fail, and read per-tenant call
// counts.
type fakeEngine struct {
	clock  clockwork.Clock
	notify func(datasource.Signal)

	mu      sync.Mutex
	tenants map[string]*fakeTenant
	nextID  int64
	nextTx  int64
	// afterAcquire, when set, is called after an acquisition returned jobs,
	// outside the lock (it may block).
	afterAcquire func(tenant string, jobs []*engine.Job)
}

type fakeTenant struct {
	jobs     map[int64]*fakeJob
	order    []*fakeJob // by priority desc, due asc, id: acquisition order
	unsorted bool       // order needs sorting
	deleted  int        // deleted jobs still in order

	down      error           // every call fails with it
	renewDown map[string]bool // renewals by these owners fail

	calls       map[string]int
	completions map[int64]int // committed successes per job
	failJobs    map[int64][]string
	failures    int // failures recorded (in ExecuteJobs or FailJob)
	incidents   int
	released    int
	cleanups    []string // tenant found in ctx by CleanupHistory
	running     int      // ExecuteJobs calls in progress
	maxRunning  int
}

type fakeJob struct {
	engine.Job
	run     func(ctx context.Context, j *engine.Job) error
	then    func(now time.Time) *jobSpec
	txLock  int64 // the open transaction holding the row, 0 when none
	deleted bool
}

// jobSpec describes a job to add.
type jobSpec struct {
	Due      time.Time
	Priority int
	Retries  int // default engine.DefaultJobRetries
	// Run is the job's body (nil: succeeds at once). It runs inside the
	// ExecuteJobs transaction, outside the engine's lock.
	Run func(ctx context.Context, j *engine.Job) error
	// Then, when set, returns a job the completion creates (a recurring
	// timer), or nil.
	Then func(now time.Time) *jobSpec
}

func newFakeEngine(clock clockwork.Clock, notify func(datasource.Signal)) *fakeEngine {
	return &fakeEngine{clock: clock, notify: notify, tenants: map[string]*fakeTenant{}}
}

var _ Engine = (*fakeEngine)(nil)

func (f *fakeEngine) tenantLocked(id string) *fakeTenant {
	t := f.tenants[id]
	if t == nil {
		t = &fakeTenant{jobs: map[int64]*fakeJob{}, renewDown: map[string]bool{}, calls: map[string]int{},
			completions: map[int64]int{}, failJobs: map[int64][]string{}}
		f.tenants[id] = t
	}
	return t
}

// add writes a job without signalling (as if the signal were lost).
func (f *fakeEngine) add(tenant string, s jobSpec) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addLocked(tenant, s)
}

func (f *fakeEngine) addLocked(tenant string, s jobSpec) int64 {
	t := f.tenantLocked(tenant)
	f.nextID++
	retries := s.Retries
	if retries == 0 {
		retries = engine.DefaultJobRetries
	}
	j := &fakeJob{Job: engine.Job{ID: f.nextID, Tenant: tenant, Kind: engine.JobTimer, DueAt: s.Due, Priority: s.Priority,
		Retries: retries, Revision: 1}, run: s.Run, then: s.Then}
	t.jobs[j.ID] = j
	t.order = append(t.order, j)
	t.unsorted = true
	return j.ID
}

// addMany writes n jobs due at due, all running body, without signalling.
func (f *fakeEngine) addMany(tenant string, n int, due time.Time, body func(ctx context.Context, j *engine.Job) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.addLocked(tenant, jobSpec{Due: due, Run: body})
	}
}

// write adds a job and signals it after "commit", as the engine does.
func (f *fakeEngine) write(tenant string, s jobSpec) int64 {
	id := f.add(tenant, s)
	f.signal(tenant, s.Due)
	return id
}

func (f *fakeEngine) signal(tenant string, due time.Time) {
	if f.notify != nil {
		f.notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: tenant, DueAt: due})
	}
}

func (f *fakeEngine) setDown(tenant string, err error) {
	f.mu.Lock()
	f.tenantLocked(tenant).down = err
	f.mu.Unlock()
}

func (f *fakeEngine) setRenewDown(tenant, owner string, down bool) {
	f.mu.Lock()
	f.tenantLocked(tenant).renewDown[owner] = down
	f.mu.Unlock()
}

// calls returns how many times method was called for tenant ("" sums every
// method).
func (f *fakeEngine) calls(tenant, method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenants[tenant]
	if t == nil {
		return 0
	}
	if method != "" {
		return t.calls[method]
	}
	n := 0
	for _, c := range t.calls {
		n += c
	}
	return n
}

// totalCalls sums every call of every tenant.
func (f *fakeEngine) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.tenants {
		for _, c := range t.calls {
			n += c
		}
	}
	return n
}

// view runs fn on a tenant's state under the lock.
func (f *fakeEngine) view(tenant string, fn func(t *fakeTenant)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.tenantLocked(tenant))
}

func (f *fakeEngine) pending(tenant string) int {
	n := 0
	f.view(tenant, func(t *fakeTenant) { n = len(t.jobs) })
	return n
}

func (f *fakeEngine) completed(tenant string) int {
	n := 0
	f.view(tenant, func(t *fakeTenant) {
		for _, c := range t.completions {
			n += c
		}
	})
	return n
}

func (f *fakeEngine) job(tenant string, id int64) (engine.Job, bool) {
	var j engine.Job
	ok := false
	f.view(tenant, func(t *fakeTenant) {
		if fj := t.jobs[id]; fj != nil {
			j, ok = fj.Job, true
		}
	})
	return j, ok
}

// enter counts a call and returns the tenant's state, or the error the
// call fails with. The lock is held on success.
func (f *fakeEngine) enter(ctx context.Context, method string) (string, *fakeTenant, error) {
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return "", nil, err
	}
	f.mu.Lock()
	t := f.tenantLocked(tenant)
	t.calls[method]++
	if t.down != nil {
		f.mu.Unlock()
		return tenant, nil, t.down
	}
	if err := ctx.Err(); err != nil {
		f.mu.Unlock()
		return tenant, nil, err
	}
	return tenant, t, nil
}

func (f *fakeEngine) AcquireJobs(ctx context.Context, p *engine.AcquireJobsParams) ([]*engine.Job, error) {
	if p == nil || p.Owner == "" || p.Max <= 0 || p.LockFor <= 0 {
		return nil, errors.New("fake: AcquireJobs needs an owner, a positive Max and LockFor")
	}
	tenant, t, err := f.enter(ctx, "AcquireJobs")
	if err != nil {
		return nil, err
	}
	if t.unsorted || t.deleted > len(t.order)/2 {
		t.order = slices.DeleteFunc(t.order, func(j *fakeJob) bool { return j.deleted })
		t.deleted = 0
	}
	if t.unsorted {
		slices.SortFunc(t.order, func(a, b *fakeJob) int {
			return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID))
		})
		t.unsorted = false
	}
	var out []*engine.Job
	for _, j := range t.order {
		if len(out) == p.Max {
			break
		}
		if j.deleted || j.Retries <= 0 || j.Suspended || j.DueAt.After(p.Now) || !j.LockExpiresAt.Before(p.Now) || j.txLock != 0 {
			continue
		}
		j.LockOwner, j.LockExpiresAt = p.Owner, p.Now.Add(p.LockFor)
		j.Revision++
		c := j.Job
		out = append(out, &c)
	}
	hook := f.afterAcquire
	f.mu.Unlock()
	if hook != nil && len(out) > 0 {
		hook(tenant, out)
	}
	return out, nil
}

// staged is a change an open fake transaction applies at commit.
type staged struct {
	job  *fakeJob
	err  error // nil: completed
	idx  int
	then *jobSpec
}

func (f *fakeEngine) ExecuteJobs(ctx context.Context, owner string, jobs []*engine.Job, now time.Time) []engine.JobResult {
	results := make([]engine.JobResult, len(jobs))
	for i, j := range jobs {
		results[i].JobID = j.ID
	}
	abort := func(err error) []engine.JobResult {
		for i := range results {
			if !errors.Is(results[i].Err, engine.ErrLockLost) {
				results[i].Err = err
			}
		}
		return results
	}
	tenant, t, err := f.enter(ctx, "ExecuteJobs")
	if err != nil {
		return abort(err)
	}
	f.nextTx++
	tx := f.nextTx
	t.running++
	t.maxRunning = max(t.maxRunning, t.running)
	f.mu.Unlock()
	var held []*fakeJob
	defer func() {
		// Rollback (or after commit): the transaction's row locks go.
		f.mu.Lock()
		t.running--
		for _, j := range held {
			if j.txLock == tx {
				j.txLock = 0
			}
		}
		f.mu.Unlock()
	}()
	var ops []staged
	for i, j := range jobs {
		f.mu.Lock()
		if t.down != nil {
			f.mu.Unlock()
			return abort(t.down)
		}
		fj := t.jobs[j.ID]
		if fj == nil || fj.LockOwner != owner || fj.Revision != j.Revision || (fj.txLock != 0 && fj.txLock != tx) {
			f.mu.Unlock()
			results[i].Err = fmt.Errorf("%w: job %d", engine.ErrLockLost, j.ID)
			continue
		}
		fj.txLock = tx
		held = append(held, fj)
		run, then, snapshot := fj.run, fj.then, fj.Job
		f.mu.Unlock()
		var err error
		if run != nil {
			err = run(ctx, &snapshot) // a panic rolls the transaction back
		}
		if ctx.Err() != nil {
			return abort(ctx.Err()) // as database/sql reports it
		}
		op := staged{job: fj, err: err, idx: i}
		if err == nil && then != nil {
			op.then = then(now)
		}
		ops = append(ops, op)
	}
	// Commit.
	f.mu.Lock()
	if t.down != nil {
		f.mu.Unlock()
		return abort(t.down)
	}
	var signals []time.Time
	for _, op := range ops {
		if op.err != nil {
			results[op.idx].Err = op.err
			if due, ok := f.recordFailureLocked(t, op.job, op.err, now); ok {
				signals = append(signals, due)
			}
			continue
		}
		op.job.deleted = true
		delete(t.jobs, op.job.ID)
		t.deleted++
		t.completions[op.job.ID]++
		if op.then != nil {
			f.addLocked(tenant, *op.then)
			signals = append(signals, op.then.Due)
		}
	}
	f.mu.Unlock()
	if len(signals) > 0 {
		f.signal(tenant, slices.MinFunc(signals, time.Time.Compare))
	}
	return results
}

// recordFailureLocked records a failed attempt like the engine: one retry
// less, due again after a backoff, an incident at zero.
func (f *fakeEngine) recordFailureLocked(t *fakeTenant, j *fakeJob, cause error, now time.Time) (time.Time, bool) {
	t.failures++
	j.Retries--
	j.ErrorMessage = cause.Error()
	j.LockOwner, j.LockExpiresAt = "", time.Time{}
	j.Revision++
	j.DueAt = now.Add(10 * time.Second)
	t.unsorted = true
	if j.Retries <= 0 {
		j.Retries = 0
		t.incidents++
		return time.Time{}, false
	}
	return j.DueAt, true
}

func (f *fakeEngine) FailJob(ctx context.Context, p *engine.FailJobParams) error {
	if p == nil || p.Job == nil || p.Err == nil {
		return errors.New("fake: FailJob needs a job and an error")
	}
	tenant, t, err := f.enter(ctx, "FailJob")
	if err != nil {
		return err
	}
	fj := t.jobs[p.Job.ID]
	if fj == nil || fj.LockOwner != p.Owner || fj.Revision != p.Job.Revision || fj.txLock != 0 {
		f.mu.Unlock()
		return fmt.Errorf("%w: job %d", engine.ErrLockLost, p.Job.ID)
	}
	t.failJobs[fj.ID] = append(t.failJobs[fj.ID], p.Err.Error())
	due, ok := f.recordFailureLocked(t, fj, p.Err, p.Now)
	f.mu.Unlock()
	if ok {
		f.signal(tenant, due)
	}
	return nil
}

func (f *fakeEngine) RenewJobLocks(ctx context.Context, p *engine.RenewJobLocksParams) ([]int64, error) {
	_, t, err := f.enter(ctx, "RenewJobLocks")
	if err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	if t.renewDown[p.Owner] {
		return nil, errors.New("fake: renewal failed (network partition)")
	}
	var lost []int64
	for _, id := range p.IDs {
		if j := t.jobs[id]; j != nil && j.LockOwner == p.Owner {
			j.LockExpiresAt = p.Until
		} else {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

func (f *fakeEngine) ReleaseJobs(ctx context.Context, owner string, ids []int64) error {
	tenant, t, err := f.enter(ctx, "ReleaseJobs")
	if err != nil {
		return err
	}
	for _, id := range ids {
		if j := t.jobs[id]; j != nil && j.LockOwner == owner {
			j.LockOwner, j.LockExpiresAt = "", time.Time{}
			j.Revision++
			t.released++
		}
	}
	f.mu.Unlock()
	f.signal(tenant, f.clock.Now())
	return nil
}

func (f *fakeEngine) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	_, t, err := f.enter(ctx, "NextJobDue")
	if err != nil {
		return time.Time{}, false, err
	}
	defer f.mu.Unlock()
	var due time.Time
	ok := false
	for _, j := range t.jobs {
		if j.Retries <= 0 || j.Suspended {
			continue
		}
		d := j.DueAt
		if j.LockExpiresAt.After(d) {
			d = j.LockExpiresAt
		}
		if !ok || d.Before(due) {
			due, ok = d, true
		}
	}
	return due, ok, nil
}

func (f *fakeEngine) CleanupHistory(ctx context.Context, now time.Time) (int, error) {
	tenant, t, err := f.enter(ctx, "CleanupHistory")
	if err != nil {
		return 0, err
	}
	t.cleanups = append(t.cleanups, tenant)
	f.mu.Unlock()
	return 0, nil
}
