package agent

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// Data-plane components: each reports the raft index of the state it
// applied.
const (
	componentDNS     = "dns"     // the DNS server's records
	componentVIP     = "vip"     // every local container's VIPs
	componentIngress = "ingress" // the routing mesh and HTTP pools
)

// maxPendingCommits bounds the commits whose apply lag is still to be
// measured.
const maxPendingCommits = 4096

// indexSource is the replica's side of the data-plane index
// (*state.Store).
type indexSource interface {
	// Indexes returns the replica's index and that of the last commit
	// that changed something.
	Indexes() (applied, changed uint64)
	// DrainedBetween says whether a commit in (after, upTo] drained.
	DrainedBetween(after, upTo uint64) bool
}

// dataplane combines the indexes this node's data-plane components
// report into the node's: the raft index of the state all of them
// reflect (the minimum). A component that applied every change up to
// the last commit that changed something reflects the replica's index:
// the commits since changed nothing. The heartbeats carry the node's
// index (cluster.Dataplane) and go at once when it moves past a drain.
type dataplane struct {
	src indexSource
	now func() time.Time

	mu      sync.Mutex
	comps   map[string]uint64 // component -> the index it reported
	heard   map[string]bool   // components that reported once
	node    uint64            // the node's index, never lower while the replica is not reset
	pending []commitAt        // commits not yet applied by every component, oldest first
	kick    chan struct{}

	nodeIndex prometheus.Gauge
	compIndex *prometheus.GaugeVec
	lag       prometheus.Histogram
}

// commitAt is when this replica applied a commit.
type commitAt struct {
	index uint64
	at    time.Time
}

// newDataplane tracks the named components over src; its metrics go to
// reg (nil: none).
func newDataplane(src indexSource, reg prometheus.Registerer, components ...string) *dataplane {
	d := &dataplane{src: src, now: time.Now, comps: map[string]uint64{}, heard: map[string]bool{},
		kick: make(chan struct{}, 1),
		nodeIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xo_dataplane_applied_index",
			Help: "Raft index of the cluster state every data-plane component of this node (DNS, VIPs, routing mesh and HTTP pools) applied: what its heartbeats acknowledge.",
		}),
		compIndex: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_dataplane_component_applied_index",
			Help: "Raft index of the cluster state each data-plane component of this node last applied (none failing).",
		}, []string{"component"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "xo_dataplane_apply_lag_seconds",
			Help:    "Time from this replica's apply of a commit to its application by every data-plane component of the node.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}),
	}
	for _, c := range components {
		d.comps[c] = 0
		d.compIndex.WithLabelValues(c)
	}
	if reg != nil {
		reg.MustRegister(d.nodeIndex, d.compIndex, d.lag)
	}
	return d
}

// reporter is what component calls with the index it applied.
func (d *dataplane) reporter(component string) func(index uint64) {
	return func(index uint64) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.comps[component] = index
		d.heard[component] = true
		d.compIndex.WithLabelValues(component).Set(float64(index))
		d.advanceLocked()
	}
}

// AppliedIndex implements cluster.Dataplane.
func (d *dataplane) AppliedIndex() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.advanceLocked()
}

// Acks implements cluster.Dataplane.
func (d *dataplane) Acks() <-chan struct{} { return d.kick }

// advanceLocked recomputes the node's index; d.mu held.
func (d *dataplane) advanceLocked() uint64 {
	applied, changed := d.src.Indexes()
	if applied < d.node { // the replica was reset (a join): start over
		d.node, d.pending = 0, nil
	}
	n := applied
	for _, r := range d.comps {
		if r < changed {
			n = min(n, r)
		}
	}
	if n <= d.node {
		return d.node
	}
	if d.src.DrainedBetween(d.node, n) {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
	now := d.now()
	i := 0
	for ; i < len(d.pending) && d.pending[i].index <= n; i++ {
		d.lag.Observe(now.Sub(d.pending[i].at).Seconds())
	}
	d.pending = d.pending[i:]
	d.node = n
	d.nodeIndex.Set(float64(n))
	return n
}

// committed records that the replica is about to apply the entry at
// index, once every component reported (the replay at start-up is no
// lag).
func (d *dataplane) committed(index uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.heard) < len(d.comps) {
		return
	}
	if len(d.pending) == maxPendingCommits {
		d.pending = d.pending[1:]
	}
	d.pending = append(d.pending, commitAt{index, d.now()})
}

// fsm wraps the replica's FSM: the dataplane learns when each commit
// is applied, and moves on at once past commits that change nothing.
func (d *dataplane) fsm(f raft.FSM) raft.FSM { return timedFSM{FSM: f, dp: d} }

type timedFSM struct {
	raft.FSM
	dp *dataplane
}

func (f timedFSM) Apply(l *raft.Log) any {
	f.dp.committed(l.Index)
	v := f.FSM.Apply(l)
	f.dp.AppliedIndex()
	return v
}
