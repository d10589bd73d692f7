package agent

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeIndexes is a replica whose indexes the test sets.
type fakeIndexes struct {
	mu               sync.Mutex
	applied, changed uint64
	drains           []uint64
}

func (f *fakeIndexes) set(applied, changed uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied, f.changed = applied, changed
}

func (f *fakeIndexes) Indexes() (uint64, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.changed
}

func (f *fakeIndexes) DrainedBetween(after, upTo uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range f.drains {
		if i > after && i <= upTo {
			return true
		}
	}
	return false
}

func kicked(d *dataplane) bool {
	select {
	case <-d.Acks():
		return true
	default:
		return false
	}
}

func TestDataplaneIndexIsTheSlowestComponent(t *testing.T) {
	src := &fakeIndexes{drains: []uint64{12}}
	src.set(10, 10)
	d := newDataplane(src, nil, componentDNS, componentVIP)
	dns, vip := d.reporter(componentDNS), d.reporter(componentVIP)
	if got := d.AppliedIndex(); got != 0 {
		t.Fatalf("index %d before any component applied anything", got)
	}
	dns(10)
	if got := d.AppliedIndex(); got != 0 {
		t.Fatalf("index %d while the VIPs applied nothing", got)
	}
	vip(10)
	if got := d.AppliedIndex(); got != 10 {
		t.Fatalf("index %d, want 10", got)
	}
	// Commits that change nothing: every component is there already.
	src.set(11, 10)
	if got := d.AppliedIndex(); got != 11 || kicked(d) {
		t.Fatalf("index %d (kick %v), want 11 without a kick", got, kicked(d))
	}
	// A drain at 12: the DNS applied it, the VIPs not yet.
	src.set(12, 12)
	dns(12)
	if got := d.AppliedIndex(); got != 11 || kicked(d) {
		t.Fatalf("index %d, want 11 until the VIPs applied the drain", got)
	}
	vip(12)
	if got := d.AppliedIndex(); got != 12 || !kicked(d) {
		t.Fatalf("index %d, kick: want 12 and an immediate heartbeat past the drain", got)
	}
	// Never lower; unless the replica is reset (a join).
	vip(5)
	if got := d.AppliedIndex(); got != 12 {
		t.Fatalf("index %d went down", got)
	}
	src.set(3, 3)
	dns(3)
	if got := d.AppliedIndex(); got != 3 {
		t.Fatalf("index %d after the replica was reset to 3, want 3", got)
	}
}

// nopFSM applies nothing.
type nopFSM struct{ raft.FSM }

func (nopFSM) Apply(*raft.Log) any { return nil }

func TestDataplaneApplyLag(t *testing.T) {
	src := &fakeIndexes{}
	reg := prometheus.NewRegistry()
	d := newDataplane(src, reg, componentDNS)
	fsm := d.fsm(nopFSM{})
	fsm.Apply(&raft.Log{Index: 1}) // before the components started: no lag to measure
	src.set(1, 1)
	d.reporter(componentDNS)(1)
	at := time.Unix(100, 0)
	d.now = func() time.Time { return at }
	src.set(2, 2)
	fsm.Apply(&raft.Log{Index: 2})
	src.set(3, 2)
	fsm.Apply(&raft.Log{Index: 3}) // changed nothing: applied at once
	if n := testutil.CollectAndCount(reg, "xo_dataplane_apply_lag_seconds"); n != 1 {
		t.Fatalf("%d lag series", n)
	}
	at = at.Add(3 * time.Millisecond)
	d.reporter(componentDNS)(2)
	want := `
# HELP xo_dataplane_applied_index Raft index of the cluster state every data-plane component of this node (DNS, VIPs, routing mesh and HTTP pools) applied: what its heartbeats acknowledge.
# TYPE xo_dataplane_applied_index gauge
xo_dataplane_applied_index 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "xo_dataplane_applied_index"); err != nil {
		t.Fatal(err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "xo_dataplane_apply_lag_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 2 || h.GetSampleSum() < 0.005 || h.GetSampleSum() > 0.007 {
				t.Fatalf("lag samples %d sum %v: want commits 2 and 3, 3ms each", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}
