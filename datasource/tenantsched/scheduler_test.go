package tenantsched

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

func TestTenantsRunAtTheirDueTimesInDueOrder(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	now := r.clock.Now()
	r.s.Wake(now.Add(3*time.Second), "c")
	r.s.Wake(now.Add(time.Second), "a")
	r.s.Wake(now.Add(2*time.Second), "b")
	r.s.Wake(now.Add(5*time.Second), "a") // later than it is due: changes nothing
	if st := r.s.Stats(); st.Scheduled != 3 || st.Due != 0 || st.Known != 3 {
		t.Fatalf("stats %+v", st)
	}
	r.settle()
	if _, next := r.s.Quiet(); !next.Equal(now.Add(time.Second)) {
		t.Fatalf("next %v, want the first due time", next)
	}
	r.step(999 * time.Millisecond)
	if got := r.order(); len(got) != 0 {
		t.Fatalf("turns before anything was due: %v", got)
	}
	r.runUntil(now.Add(time.Minute), func() bool { return len(r.order()) == 3 })
	if got := fmt.Sprint(r.order()); got != "[a b c]" {
		t.Fatalf("turns %s, want [a b c]", got)
	}
	for i, id := range []string{"a", "b", "c"} {
		if at := r.turnsOf(id); len(at) != 1 || !at[0].Equal(now.Add(time.Duration(i+1)*time.Second)) {
			t.Errorf("%s ran at %v, want once at +%ds", id, at, i+1)
		}
	}
	// Nothing pending: no state is kept.
	if st := r.s.Stats(); st.Known != 0 || st.Scheduled != 0 {
		t.Fatalf("stats after the turns %+v", st)
	}
}

func TestDueTenantsTakeTurnsAndABusyTenantGoesToTheBack(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.Workers = 1 })
	for _, id := range []string{"t1", "t2", "t3"} {
		more := countdown(3)
		r.do(id, func(turn *Turn) {
			if more() { // a full batch: probably more due
				turn.Due(r.clock.Now())
			}
		})
	}
	r.s.Wake(r.clock.Now(), "t1", "t2", "t3")
	r.wantOrder("[t1 t2 t3 t1 t2 t3 t1 t2 t3]", "each tenant's turns are a round apart")
}

func TestATenantWokenDuringABusyTenantsTurnGoesBeforeItsNextTurn(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.Workers = 1 })
	g := newGate()
	more := countdown(5)
	r.do("noisy", func(turn *Turn) {
		g.wait(turn)
		if more() {
			turn.Due(r.clock.Now())
		}
	})
	r.s.Wake(r.clock.Now(), "noisy")
	g.Reached(t, 1)
	r.s.Wake(r.clock.Now(), "quiet")
	g.Open()
	r.wantOrder("[noisy quiet noisy noisy noisy noisy]", "the quiet tenant waits for the turn in progress only")
}

func TestATenantRunsAtMostItsCapOfTurnsAndLeavesTheOtherWorkersFree(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.Workers = 4 })
	g := newGate()
	more := countdown(6)
	r.do("capped", func(turn *Turn) {
		turn.SetCap(2)
		if more() {
			turn.Due(r.clock.Now())
		}
		g.wait(turn)
	})
	r.s.Wake(r.clock.Now(), "capped")
	g.Reached(t, 2)
	r.waitFor("the tenant is at its cap", func() bool {
		st := r.s.Tenant("capped")
		return st.Place == AtCap && st.Running == 2 && st.Cap == 2
	})
	// Two workers are free: another tenant gets one at once.
	r.s.Wake(r.clock.Now(), "other")
	r.waitFor("the other tenant ran", func() bool { return len(r.turnsOf("other")) == 1 })
	g.Open()
	r.waitFor("every turn of the capped tenant ran", func() bool { return len(r.turnsOf("capped")) == 6 })
	r.settle()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.most["capped"] != 2 {
		t.Fatalf("%d turns of the tenant ran at once, cap 2", r.most["capped"])
	}
}

func TestAWakeUpAboutWhatARunningTurnReadsIsDropped(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	g := newGate()
	r.do("a", g.wait)
	now := r.clock.Now()
	r.s.Wake(now, "a")
	g.Reached(t, 1)
	// The turn read at now: a wake-up for now is about what it found.
	r.s.Wake(now, "a")
	if st := r.s.Tenant("a"); st.Place != Unqueued || st.Running != 1 {
		t.Fatalf("status after a wake-up for what the turn reads: %+v", st)
	}
	// One for later is about something else: it counts.
	r.s.Wake(now.Add(time.Second), "a")
	if st := r.s.Tenant("a"); st.Place != Scheduled || !st.Due.Equal(now.Add(time.Second)) {
		t.Fatalf("status after a later wake-up: %+v", st)
	}
	g.Open()
	r.runUntil(now.Add(time.Minute), func() bool { return len(r.turnsOf("a")) == 2 })
	if at := r.turnsOf("a"); len(at) != 2 || !at[1].Equal(now.Add(time.Second)) {
		t.Fatalf("turns at %v", at)
	}
}

func TestBackoffDelaysGrowExponentiallyToTheCap(t *testing.T) {
	t.Parallel()
	b := Backoff{Initial: time.Second, Max: 8 * time.Second}
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		4: 8 * time.Second, 5: 8 * time.Second, 70: 8 * time.Second, 1 << 30: 8 * time.Second} {
		if got := b.Delay(n); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
		j := b
		j.Jitter = true
		for range 50 {
			if got := j.Delay(n); got < want/2 || got > want {
				t.Fatalf("jittered Delay(%d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
	if got := (Backoff{Initial: 5 * time.Second, Max: 5 * time.Second}).Delay(9); got != 5*time.Second {
		t.Errorf("a constant backoff gave %v", got)
	}
}

func TestAFailingTenantIsLeftAloneForItsBackoffAndRecovers(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	policy := Backoff{Initial: time.Second, Max: 8 * time.Second}
	var mu sync.Mutex
	var recovered []int
	failing := true
	r.do("f", func(turn *Turn) {
		mu.Lock()
		fail := failing
		mu.Unlock()
		if fail {
			turn.Failed(Failure{Backoff: policy})
			return
		}
		n, _ := turn.Recovered()
		mu.Lock()
		recovered = append(recovered, n)
		mu.Unlock()
	})
	now := r.clock.Now()
	r.s.Wake(now, "f")
	r.settle()
	if st := r.s.Tenant("f"); st.Failures != 1 || !st.RetryAt.Equal(now.Add(time.Second)) || st.Place != Scheduled {
		t.Fatalf("status after the first failure %+v", st)
	}
	if st := r.s.Stats(); st.BackingOff != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A wake-up does not cut the backoff short.
	r.s.Wake(now, "f")
	if st := r.s.Tenant("f"); !st.Due.Equal(now.Add(time.Second)) {
		t.Fatalf("a wake-up moved the retry to %v", st.Due)
	}
	r.runUntil(now.Add(30*time.Second), func() bool { return false })
	var offsets []time.Duration
	for _, at := range r.turnsOf("f") {
		offsets = append(offsets, at.Sub(now))
	}
	if got := fmt.Sprint(offsets); got != "[0s 1s 3s 7s 15s 23s]" {
		t.Fatalf("turns at %s: want 1s, 2s, 4s, then 8s apart", got)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	r.runUntil(now.Add(time.Minute), func() bool { return len(r.turnsOf("f")) == 7 })
	mu.Lock()
	got := slices.Clone(recovered)
	mu.Unlock()
	if fmt.Sprint(got) != "[6]" {
		t.Fatalf("Recovered reported %v failures, want [6]", got)
	}
	if st := r.s.Tenant("f"); st.Known || st.Failures != 0 {
		t.Fatalf("status after recovering %+v", st)
	}
	// The next failure starts the backoff over.
	mu.Lock()
	failing = true
	mu.Unlock()
	r.s.Wake(r.clock.Now(), "f")
	r.settle()
	if st := r.s.Tenant("f"); st.Failures != 1 || !st.RetryAt.Equal(r.clock.Now().Add(time.Second)) {
		t.Fatalf("status after a new failure %+v", st)
	}
}

func TestTheFirstRecoveryFromASharedCauseBringsTheOthersWaitingForItForward(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	long := Backoff{Initial: time.Hour, Max: time.Hour}
	var mu sync.Mutex
	healthy := false
	type rec struct{ failures, pulled int }
	recs := map[string][]rec{}
	for _, id := range []string{"e1", "e2", "e3", "s1"} {
		r.do(id, func(turn *Turn) {
			mu.Lock()
			ok := healthy
			mu.Unlock()
			switch {
			case !ok && id == "s1":
				turn.Failed(Failure{Backoff: long}) // its own storage
			case !ok:
				turn.Failed(Failure{Backoff: long, Cause: "cluster"})
			default:
				f, p := turn.Recovered()
				mu.Lock()
				recs[id] = append(recs[id], rec{f, p})
				mu.Unlock()
			}
		})
	}
	// They fail a second apart, so their backoffs end a second apart.
	r.s.Wake(r.clock.Now(), "e1")
	r.step(time.Second)
	r.s.Wake(r.clock.Now(), "e2")
	r.step(time.Second)
	r.s.Wake(r.clock.Now(), "e3", "s1")
	r.settle()
	first := r.s.Tenant("e1").RetryAt
	mu.Lock()
	healthy = true
	mu.Unlock()
	r.clock.Advance(first.Sub(r.clock.Now()))
	r.waitFor("the tenants waiting for the cluster shipped", func() bool {
		return len(r.turnsOf("e2")) == 2 && len(r.turnsOf("e3")) == 2 && r.quiet()
	})
	if !r.clock.Now().Equal(first) {
		t.Fatalf("the clock moved to %v", r.clock.Now())
	}
	for _, id := range []string{"e2", "e3"} {
		if at := r.turnsOf(id); !at[1].Equal(first) {
			t.Errorf("%s retried at %v, want with e1 at %v", id, at[1], first)
		}
	}
	mu.Lock()
	got := fmt.Sprint(recs["e1"], recs["e2"], recs["e3"])
	mu.Unlock()
	// e1 brought the two others forward; they found nothing new to look
	// through (no failure since).
	if got != "[{1 2}] [{1 0}] [{1 0}]" {
		t.Fatalf("recoveries %s", got)
	}
	if st := r.s.Tenant("s1"); len(r.turnsOf("s1")) != 1 || st.RetryAt.IsZero() || st.Failures != 1 {
		t.Fatalf("the tenant whose own storage failed was brought forward too: %+v", st)
	}
}

func TestAForgottenTenantIsNeverQueuedAgainUntilItChangesOrItsTombstoneExpires(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.SweepRate = 10 })
	r.dir.add("gone", "kept")
	now := r.clock.Now()
	r.do("gone", func(turn *Turn) {
		if err := turn.Settle(now.Add(time.Hour)); err != nil {
			t.Error(err)
		}
	})
	r.s.Wake(now, "gone")
	r.waitFor("the tenant settled", func() bool { return len(r.turnsOf("gone")) == 1 && r.quiet() })
	if st := r.s.Tenant("gone"); !st.Known || st.Place != Scheduled || !st.HintSeen {
		t.Fatalf("status before %+v", st)
	}
	if err := r.s.Forget("gone")(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.s.Tenant("gone"); st.Known || st.HintSeen || !st.Tombstoned {
		t.Fatalf("status after Forget %+v", st)
	}
	turns := len(r.turnsOf("gone"))
	r.mu.Lock()
	r.hasWork["gone"] = now
	r.mu.Unlock()
	// Not by a wake-up, a signal, a hint or the sweep.
	r.s.Wake(now, "gone")
	r.sig.Notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "gone"})
	r.hints.Lower("gone", datasource.TopicJobs, now)
	r.s.ReadHints(context.Background(), ReadOverdue)
	r.step(5 * time.Second) // sweep rounds
	if got := len(r.turnsOf("gone")); got != turns || r.s.Tenant("gone").Known {
		t.Fatalf("the forgotten tenant ran %d more turns", got-turns)
	}
	if slices.Contains(r.probed(), "gone") || !slices.Contains(r.probed(), "kept") {
		t.Fatalf("sweep probed %v", r.probed())
	}
	// A tenant signal says it changed (enabled again): it counts again.
	r.sig.Notify(datasource.Signal{Topic: datasource.TopicTenant, Tenant: "gone"})
	if r.s.Tombstoned("gone") {
		t.Fatal("still tombstoned after a tenant signal")
	}
	r.s.Wake(r.clock.Now(), "gone")
	r.waitFor("the tenant ran again", func() bool { return len(r.turnsOf("gone")) == turns+1 })

	// Without a signal, the tombstone expires after TombstoneTTL.
	r.settle()
	if err := r.s.Forget("gone")(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.step(59 * time.Second)
	if !r.s.Tombstoned("gone") {
		t.Fatal("the tombstone expired early")
	}
	r.step(time.Second)
	if r.s.Tombstoned("gone") {
		t.Fatal("the tombstone outlived its TTL")
	}
}

func TestForgetWaitsForTheTurnsInFlight(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	g := newGate()
	forgotten := make(chan bool, 1)
	r.do("a", func(turn *Turn) {
		g.wait(turn)
		forgotten <- turn.Forgotten()
		turn.Due(r.clock.Now()) // ignored: the tenant is gone
	})
	r.s.Wake(r.clock.Now(), "a")
	g.Reached(t, 1)
	wait := r.s.Forget("a")
	done := make(chan error, 1)
	go func() { done <- wait(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("the wait returned (%v) while a turn of the tenant ran", err)
	default:
	}
	g.Open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !<-forgotten {
		t.Error("the turn did not know its tenant was forgotten")
	}
	if st := r.s.Tenant("a"); st.Known || st.Running != 0 {
		t.Fatalf("status %+v", st)
	}
	r.settle()
	if n := len(r.turnsOf("a")); n != 1 {
		t.Fatalf("%d turns", n)
	}
}

func TestAForgetThatCannotWaitCutsTheTurnsShort(t *testing.T) {
	t.Parallel()
	t.Run("turns that stop when cancelled", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil)
		g := newGate() // never opened: the turn ends when its context does
		cause := make(chan error, 1)
		r.do("a", func(turn *Turn) {
			g.wait(turn)
			cause <- context.Cause(turn.Context())
		})
		r.s.Wake(r.clock.Now(), "a")
		g.Reached(t, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := r.s.Forget("a")(ctx)
		var cut *CutShortError
		if !errors.As(err, &cut) || cut.Tenant != "a" || cut.Turns != 1 || cut.Abandoned != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("Forget's wait: %v", err)
		}
		if c := <-cause; !errors.Is(c, ErrForgotten) {
			t.Fatalf("the turn's context ended with %v", c)
		}
	})
	t.Run("a turn that ignores its context", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, func(c *Config) { c.CutGrace = time.Millisecond })
		entered, release := make(chan struct{}), make(chan struct{})
		r.do("a", func(*Turn) {
			close(entered)
			<-release
		})
		r.s.Wake(r.clock.Now(), "a")
		<-entered
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := r.s.Forget("a")(ctx)
		close(release)
		var cut *CutShortError
		if !errors.As(err, &cut) || cut.Abandoned != 1 || !strings.Contains(err.Error(), "ignored its cancelled context") {
			t.Fatalf("Forget's wait: %v", err)
		}
		r.settle()
	})
}

func TestHintReadsWakeTheTenantsTheyNameAndChangedReadsActOnChangesOnly(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.HintLookahead = time.Minute; c.HintDelay = time.Second })
	now := r.clock.Now()
	r.hints.Lower("late", datasource.TopicJobs, now.Add(-time.Minute)) // overdue
	r.hints.Lower("soon", datasource.TopicJobs, now.Add(30*time.Second))
	r.hints.Lower("far", datasource.TopicJobs, now.Add(2*time.Minute)) // beyond the lookahead
	ctx := context.Background()
	r.s.ReadHints(ctx, ReadAll)
	if st := r.s.Tenant("soon"); st.Place != Scheduled || !st.Due.Equal(now.Add(31*time.Second)) {
		t.Fatalf("soon: %+v, want due at its hint plus the hint delay", st)
	}
	if r.s.Tenant("far").Known {
		t.Fatal("a hint beyond the lookahead was acted on")
	}
	// late's hint plus the delay is still past: due at once.
	r.waitFor("late ran", func() bool { return len(r.turnsOf("late")) == 1 })
	r.settle()
	// Its turn did not settle (the hint stays): a changed read leaves it
	// alone, an overdue read acts on it again.
	r.s.ReadHints(ctx, ReadChanged)
	r.settle()
	if n := len(r.turnsOf("late")); n != 1 {
		t.Fatalf("a changed read woke an unchanged hint: %d turns", n)
	}
	r.s.ReadHints(ctx, ReadOverdue)
	r.waitFor("late ran again", func() bool { return len(r.turnsOf("late")) == 2 })
	r.settle()
	// A hint that changed is acted on by a changed read.
	r.hints.Lower("late", datasource.TopicJobs, now.Add(-2*time.Minute))
	r.s.ReadHints(ctx, ReadChanged)
	r.waitFor("late ran a third time", func() bool { return len(r.turnsOf("late")) == 3 })
	if n := len(r.turnsOf("soon")); n != 0 {
		t.Fatalf("soon ran %d times before its time", n)
	}
}

func TestAHintReadRacingTheTenantsOwnSettleDoesNotWakeItAgain(t *testing.T) {
	t.Parallel()
	for _, mode := range []ReadMode{ReadChanged, ReadOverdue} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, nil)
			now := r.clock.Now()
			r.do("a", func(turn *Turn) {
				if err := turn.Settle(time.Time{}); err != nil { // nothing left: clears the hint
					t.Error(err)
				}
			})
			r.hints.Lower("a", datasource.TopicJobs, now)
			// The read sees the hint; before it acts on it, the tenant's own
			// turn runs and clears the hint.
			var once sync.Once
			r.hints.AfterRead(func() {
				once.Do(func() {
					r.s.Wake(now, "a")
					r.waitFor("the turn settled", func() bool { return len(r.turnsOf("a")) == 1 && r.quiet() })
				})
			})
			r.s.ReadHints(context.Background(), mode)
			r.settle()
			if n := len(r.turnsOf("a")); n != 1 {
				t.Fatalf("%d turns: the stale hint woke the tenant again", n)
			}
			if _, ok := r.hints.Get("a", datasource.TopicJobs); ok {
				t.Fatal("the hint was not cleared")
			}
			r.s.ReadHints(context.Background(), mode)
			r.settle()
			if n := len(r.turnsOf("a")); n != 1 {
				t.Fatalf("%d turns after the next read", n)
			}
		})
	}
}

func TestSettleWritesTheHintUnlessThePrimaryHoldsItAlready(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil)
	later := r.clock.Now().Add(time.Hour)
	again := countdown(2)
	r.do("a", func(turn *Turn) {
		if again() {
			turn.Due(r.clock.Now()) // its own finding: a second turn
		}
		if err := turn.Settle(later); err != nil {
			t.Error(err)
		}
	})
	writes := r.hints.Writes
	r.s.Wake(r.clock.Now(), "a")
	r.waitFor("two turns", func() bool { return len(r.turnsOf("a")) == 2 })
	r.settle()
	if w := writes(); w != 1 {
		t.Fatalf("%d hint writes for the same hint twice", w)
	}
	if due, _ := r.hints.Get("a", datasource.TopicJobs); !due.Equal(later) {
		t.Fatalf("hint %v", due)
	}
	if st := r.s.Tenant("a"); st.Place != Scheduled || !st.Due.Equal(later) || !st.Hint.Equal(later) {
		t.Fatalf("status %+v", st)
	}
	// A wake-up from outside follows a change that moved the hint: the
	// next settle writes it.
	r.s.Wake(r.clock.Now(), "a")
	r.waitFor("a third turn", func() bool { return len(r.turnsOf("a")) == 3 })
	r.settle()
	if w := writes(); w != 2 {
		t.Fatalf("%d hint writes after a wake-up from outside, want 2", w)
	}
	// A commit lowered the hint behind this node's back (its signal lost):
	// the read that sees it wakes the tenant, whose settle corrects it.
	r.hints.Lower("a", datasource.TopicJobs, r.clock.Now())
	r.s.ReadHints(context.Background(), ReadChanged)
	r.waitFor("a fourth turn", func() bool { return len(r.turnsOf("a")) == 4 })
	r.settle()
	if due, _ := r.hints.Get("a", datasource.TopicJobs); writes() != 3 || !due.Equal(later) {
		t.Fatalf("%d writes, hint %v", writes(), due)
	}
}

func TestARefreshEverythingSignalCausesOneHintRead(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.RefreshDelay = 100 * time.Millisecond })
	start := r.clock.Now()
	reads := r.hints.Reads() // the read of Start
	r.hints.Lower("missed", datasource.TopicJobs, start)
	for range 20 {
		r.sig.Notify(datasource.Signal{Topic: datasource.TopicJobs, All: true, Remote: true})
		r.sig.Notify(datasource.Signal{Topic: datasource.TopicTenant, All: true, Remote: true})
	}
	r.settle()
	// The last read was at start: the refresh waits for HintMinGap.
	if _, next := r.s.Quiet(); !next.Equal(start.Add(time.Second)) {
		t.Fatalf("next %v, want the refresh a second after the last read", next)
	}
	r.runUntil(start.Add(time.Minute), func() bool { return len(r.turnsOf("missed")) == 1 })
	if got := r.hints.Reads(); got-reads != 1 {
		t.Fatalf("%d hint reads after a burst of refresh signals, want 1", got-reads)
	}
	if !r.clock.Now().Equal(start.Add(time.Second)) {
		t.Fatalf("the tenant ran at %v", r.clock.Now())
	}
	// Once the last read is HintMinGap old, the refresh comes RefreshDelay
	// after the signal.
	r.step(10 * time.Second)        // a periodic read
	r.step(1500 * time.Millisecond) // the next one is half a second away
	at := r.clock.Now()
	r.sig.Notify(datasource.Signal{Topic: datasource.TopicJobs, All: true})
	r.settle()
	if _, next := r.s.Quiet(); !next.Equal(at.Add(100 * time.Millisecond)) {
		t.Fatalf("next %v, want the refresh delay after the signal", next)
	}
}

func TestSignalsWakeTenantsAfterTheirDelays(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.SignalDelay = 100 * time.Millisecond; c.RemoteSignalDelay = time.Second })
	now := r.clock.Now()
	r.sig.Notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "local"})
	r.sig.Notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "remote", Remote: true})
	r.sig.Notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "timer", DueAt: now.Add(time.Hour), Remote: true})
	r.sig.Notify(datasource.Signal{Topic: datasource.TopicEvents, Tenant: "other-topic"})
	for id, want := range map[string]time.Duration{"local": 100 * time.Millisecond, "remote": 1100 * time.Millisecond, "timer": time.Hour} {
		if st := r.s.Tenant(id); !st.Due.Equal(now.Add(want)) {
			t.Errorf("%s due at %v, want +%v", id, st.Due, want)
		}
	}
	if r.s.Tenant("other-topic").Known {
		t.Error("a signal of another topic woke a tenant")
	}
	r.runUntil(now.Add(time.Minute), func() bool { return len(r.order()) == 2 })
	if got := fmt.Sprint(r.order()); got != "[local remote]" {
		t.Fatalf("turns %s", got)
	}
}

func TestTheSweepProbesTheTenantsItKnowsNothingOfRoundRobin(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.SweepRate = 2; c.SweepPage = 3; c.SweepPassMin = 10 * time.Second })
	r.dir.add(tenants("t", 7)...)
	now := r.clock.Now()
	r.s.Wake(now.Add(time.Hour), "t01")                             // known: scheduled
	if err := r.s.Forget("t03")(context.Background()); err != nil { // tombstoned
		t.Fatal(err)
	}
	r.mu.Lock()
	r.hasWork["t05"] = now.Add(-time.Minute)
	r.mu.Unlock()
	r.run(6, time.Second)
	// Pages of 3, 2 tenants a round: [t00 t01] [t02] [t03 t04] [t05] [t06],
	// then no new pass before 10 s after the last began.
	if got := fmt.Sprint(r.probed()); got != "[t00 t02 t04 t05 t06]" {
		t.Fatalf("probed %s", got)
	}
	if at := r.turnsOf("t05"); len(at) != 1 || !at[0].Equal(now.Add(4*time.Second)) {
		t.Fatalf("the tenant with work ran at %v, want when probed", at)
	}
	st := r.s.Stats()
	if st.SweepRounds != 6 || st.SweepChecks != 5 || st.Listings != 3 {
		t.Fatalf("stats %+v", st)
	}
	r.run(4, time.Second)
	if n := len(r.probed()); n != 5 {
		t.Fatalf("a new pass began before SweepPassMin: %v", r.probed())
	}
	r.run(1, time.Second)
	if got := r.probed(); len(got) != 6 || got[5] != "t00" {
		t.Fatalf("the next pass did not begin: %v", got)
	}
}

// run steps the clock n times by every.
func (r *rig) run(n int, every time.Duration) {
	r.t.Helper()
	for range n {
		r.step(every)
	}
}

func TestConcurrentWakeUpsForgetsAndTurnsKeepTheBooks(t *testing.T) {
	t.Parallel()
	r := newRig(t, func(c *Config) { c.Workers = 4; c.DefaultCap = 2 })
	ids := tenants("c", 8)
	var mu sync.Mutex
	budget := 2000                 // turns the turns themselves may cause
	forgotten := map[string]bool{} // Forget's wait returned: no turn may start
	for i, id := range ids {
		r.do(id, func(turn *Turn) {
			mu.Lock()
			if forgotten[id] {
				t.Errorf("a turn of %s after its Forget returned", id)
			}
			more := budget > 0
			budget--
			mu.Unlock()
			now := r.clock.Now()
			switch {
			case !more:
				turn.Recovered()
			case i%4 == 0:
				turn.Due(now)
			case i%4 == 1:
				turn.Failed(Failure{Cause: "shared"}) // no wait: due again at once
			case i%4 == 2:
				turn.Recovered()
				turn.Due(now)
			default:
				if err := turn.Settle(now); err != nil {
					t.Error(err)
				}
			}
		})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				id := ids[(g*7+i)%len(ids)]
				switch {
				case i == 250 && g < 2:
					// Two tenants are let go of for good (the clock never
					// reaches their tombstones' end).
					id = ids[g]
					if err := r.s.Forget(id)(context.Background()); err != nil {
						t.Error(err)
					}
					mu.Lock()
					forgotten[id] = true
					mu.Unlock()
				case i%5 == 0:
					r.s.Wake(r.clock.Now(), ids...)
				default:
					r.s.Wake(r.clock.Now(), id)
				}
				r.s.Tenant(id)
				r.s.Stats()
				r.s.Quiet()
			}
		}()
	}
	wg.Wait()
	r.settle()
	mu.Lock()
	defer mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.most[id] > 2 {
			t.Errorf("%d turns of %s ran at once, cap 2", r.most[id], id)
		}
		if r.running[id] != 0 {
			t.Errorf("%s still runs %d turns", id, r.running[id])
		}
	}
	if st := r.s.Stats(); st.Running != 0 || st.Due != 0 {
		t.Errorf("stats once settled %+v", st)
	}
	if len(r.turns) < 1000 {
		t.Errorf("only %d turns ran", len(r.turns))
	}
}

// Not parallel: it checks that no goroutine of any scheduler is left.
func TestStopWaitsForTheTurnsInFlightAndLeavesNoGoroutine(t *testing.T) {
	r := newRig(t, func(c *Config) { c.SweepRate = 1 })
	g := newGate()
	r.do("a", g.wait)
	r.s.Wake(r.clock.Now(), "a")
	g.Reached(t, 1)
	stopped := make(chan error, 1)
	go func() { stopped <- r.s.Stop(context.Background()) }()
	r.waitFor("the scheduler is stopping", func() bool {
		r.s.mu.Lock()
		defer r.s.mu.Unlock()
		return r.s.state == stateStopping
	})
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a turn ran", err)
	default:
	}
	r.s.Wake(r.clock.Now(), "b") // no new work once stopping
	g.Open()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := len(r.turnsOf("b")); n != 0 {
		t.Fatalf("%d turns after Stop began", n)
	}
	if n := r.sig.Subscribers(datasource.TopicJobs) + r.sig.Subscribers(datasource.TopicTenant); n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
	waitNoGoroutine(t, "tenantsched.(*Scheduler)")
	if err := r.s.Stop(context.Background()); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
}

// Not parallel: it checks that no goroutine of any scheduler is left.
func TestStopCutsShortTheTurnsThatOutliveItsContext(t *testing.T) {
	r := newRig(t, nil)
	g := newGate() // never opened
	cause := make(chan error, 2)
	r.do("a", func(turn *Turn) {
		g.wait(turn)
		cause <- context.Cause(turn.Context())
	})
	r.s.Wake(r.clock.Now(), "a")
	g.Reached(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.s.Stop(ctx)
	var cut *CutShortError
	if !errors.As(err, &cut) || cut.Tenant != "" || cut.Turns != 1 || cut.Abandoned != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop: %v", err)
	}
	if c := <-cause; !errors.Is(c, ErrStopping) {
		t.Fatalf("the turn's context ended with %v", c)
	}
	waitNoGoroutine(t, "tenantsched.(*Scheduler)")
}

func TestNewSaysWhatToChange(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	if err == nil || !strings.Contains(err.Error(), "Config.Topic is required") || !strings.Contains(err.Error(), "Config.Work is required") {
		t.Fatalf("empty config: %v", err)
	}
	work := func(*Turn) {}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Workers: -1}, "Workers must be positive"},
		{Config{SignalDelay: -time.Second}, "SignalDelay must not be negative"},
		{Config{SweepRate: 10, SweepPage: 5}, "SweepPage 5 is smaller than SweepRate 10"},
	} {
		tc.cfg.Topic, tc.cfg.Work = datasource.TopicJobs, work
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	s, err := New(Config{Topic: datasource.TopicJobs, Work: work})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.cfg; c.Workers != 4 || c.DefaultCap != 1 || c.HintInterval != 2*time.Second || c.SweepPage != 100 ||
		c.TombstoneTTL != time.Minute || c.CutGrace != 5*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
}
