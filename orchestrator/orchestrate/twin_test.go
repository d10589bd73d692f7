package orchestrate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/orchestrator/state"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// testClock is an injected clock moved by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// gate is a Drainer whose drains wait until the test opens it, so that
// the stops they propose come after the pass's writes.
type gate struct {
	mu sync.Mutex
	ch chan struct{}
}

func newGate() *gate { return &gate{ch: make(chan struct{})} }

func (g *gate) Drain(ctx context.Context, _ []*state.Task) error {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return nil
}

// open lets the drains under way end; close makes the later ones wait.
func (g *gate) open() { g.mu.Lock(); close(g.ch); g.mu.Unlock() }
func (g *gate) close() {
	g.mu.Lock()
	g.ch = make(chan struct{})
	g.mu.Unlock()
}

// twin is an in-process cluster and an orchestrator leading it. A
// property test drives two from the same commands: one passes partially
// where it can, the other always looks at everything.
type twin struct {
	c      leading
	o      *Orchestrator
	gate   *gate
	events <-chan state.Event
}

func newTwin(tb testing.TB, clk *testClock, opts Options) *twin {
	tb.Helper()
	w := &twin{c: leading{statetest.New()}, gate: newGate()}
	var ids atomic.Int64
	opts.Now = clk.Now
	opts.NewID = func() string { return fmt.Sprintf("id%04d", ids.Add(1)) }
	opts.Drainer = w.gate
	w.o = New(w.c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, opts)
	events, cancel := w.c.Watch()
	w.events = events
	tb.Cleanup(cancel)
	return w
}

// collect hands the events since the last call to the orchestrator, as
// its watch would.
func (w *twin) collect() {
	var batch []state.Event
	lost := false
	for len(w.events) > 0 { // the one reader: a receive does not block
		batch = append(batch, <-w.events)
		lost = lost || overflowed(w.events)
	}
	if len(batch) > 0 {
		w.o.note(batch, lost)
	}
}

// passes returns the count of passes of a kind (full, partial).
func (w *twin) passes(kind string) float64 {
	return testutil.ToFloat64(w.o.m.passes.WithLabelValues(kind))
}

// world builds random states and commits, the same on both twins.
type world struct {
	t      *testing.T
	r      *rand.Rand
	clk    *testClock
	a, b   *twin // a passes partially, b in full
	nodes  int
	ip     int
	seed   uint64
	failed bool
}

// both proposes cmd on both twins; they must agree on its outcome.
func (w *world) both(cmd state.Command) {
	w.t.Helper()
	_, errA := w.a.c.Propose(context.Background(), cmd)
	_, errB := w.b.c.Propose(context.Background(), cmd)
	if (errA == nil) != (errB == nil) {
		w.t.Fatalf("seed %d: %T: twins disagree: %v / %v", w.seed, cmd, errA, errB)
	}
}

func (w *world) view(fn func(tx state.ReadTx)) { w.a.c.View(fn) }

func (w *world) addNode() {
	w.nodes++
	id := fmt.Sprintf("n%d", w.nodes)
	n := state.Node{ID: id, Hostname: fmt.Sprintf("h%d", w.nodes), Role: state.RoleManager,
		Labels: map[string]string{"zone": []string{"a", "b"}[w.r.IntN(2)]}}
	if w.r.IntN(3) == 0 {
		n.Capacity = state.Resources{NanoCPUs: 2e9}
	}
	w.both(state.RegisterNode{Node: n})
	w.both(state.AttachEngine{NetworkID: "net", Node: id, EngineID: "e" + id})
}

// pass runs a pass on both twins: a where it can partially, b in full;
// they must propose the same writes and end up remembering the same.
func (w *world) pass(round int) {
	w.t.Helper()
	w.a.collect()
	w.b.collect()
	w.b.o.dirty.markFull()
	ctx := context.Background()
	w.a.o.pass(ctx)
	w.b.o.pass(ctx)
	wa, wb := w.a.c.TakeWrites(), w.b.c.TakeWrites()
	if !reflect.DeepEqual(wa, wb) {
		w.fail(round, "writes differ:\npartial %s\nfull    %s", show(wa), show(wb))
		return
	}
	// The drains the pass started end, and stop their tasks.
	w.a.gate.open()
	w.b.gate.open()
	w.a.o.upd.wg.Wait()
	w.b.o.upd.wg.Wait()
	w.a.gate.close()
	w.b.gate.close()
	da, db := sorted(w.a.c.TakeWrites()), sorted(w.b.c.TakeWrites())
	if !reflect.DeepEqual(da, db) {
		w.fail(round, "drain writes differ:\npartial %v\nfull    %v", da, db)
		return
	}
	w.same(round)
}

// same compares what the twins remember for the passes to come.
func (w *world) same(round int) {
	a, b := w.a.o, w.b.o
	if wa, wb := a.mem.wake(a.ext.wake), b.mem.wake(b.ext.wake); !wa.Equal(wb) {
		w.fail(round, "wake %v, full pass %v\npartial %v %v\nfull    %v %v", wa, wb, a.mem.recWake, a.mem.updWake,
			b.mem.recWake, b.mem.updWake)
	}
	for _, c := range []struct {
		what string
		a, b any
	}{
		{"reconcile wakes", a.mem.recWake, b.mem.recWake},
		{"update wakes", a.mem.updWake, b.mem.updWake},
		{"services updating", a.mem.updating, b.mem.updating},
		{"services unplaced", a.mem.unplaced, b.mem.unplaced},
		{"external grace starts", a.ext.seen, b.ext.seen},
		{"external wake", a.ext.wake, b.ext.wake},
		{"external services", a.ext.ids, b.ext.ids},
		{"external services with endpoints", a.ext.members, b.ext.members},
		{"labelled containers", a.ext.containers, b.ext.containers},
		{"tasks seen serving", live(w.a, a.upd.seen), live(w.b, b.upd.seen)},
		{"removed services with tasks", orphaned(w.a, a.mem.orphans), orphaned(w.b, b.mem.orphans)},
		{"unschedulable", testutil.ToFloat64(a.m.unschedulable), testutil.ToFloat64(b.m.unschedulable)},
	} {
		if !reflect.DeepEqual(c.a, c.b) {
			w.fail(round, "%s: partial %v, full %v", c.what, c.a, c.b)
		}
	}
}

// live is seen without the tasks deleted: a partial pass forgets them
// at the next full one.
func live(tw *twin, seen map[string]time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	tw.c.View(func(tx state.ReadTx) {
		for id, at := range seen {
			if tx.Task(id) != nil {
				out[id] = at
			}
		}
	})
	return out
}

// orphaned is orphans without the services that have no tasks left,
// or are services again: a partial pass forgets them when it reads
// every task, and the reaper may have deleted their last ones since.
func orphaned(tw *twin, orphans map[string]bool) map[string]bool {
	out := map[string]bool{}
	tw.c.View(func(tx state.ReadTx) {
		for id := range orphans {
			if tx.Service(id) == nil && len(tx.Tasks(id)) > 0 {
				out[id] = true
			}
		}
	})
	return out
}

func (w *world) fail(round int, format string, args ...any) {
	w.t.Helper()
	w.failed = true
	w.t.Errorf("seed %d round %d: "+format, append([]any{w.seed, round}, args...)...)
}

func show(cmds []state.Command) string {
	s := ""
	for _, c := range cmds {
		s += fmt.Sprintf("\n  %T %+v", c, c)
	}
	return s
}

func sorted(cmds []state.Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = fmt.Sprintf("%T %+v", c, c)
	}
	slices.Sort(out)
	return out
}
