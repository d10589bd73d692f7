// Package cluster runs this node's hashicorp/raft member: the single-node
// embedded default, or a member of a multi-node cluster over mutual TLS,
// with writes forwarded to the leader, joins, membership and heartbeats.
package cluster

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/pki"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Reader reads the local replica.
type Reader interface {
	View(fn func(state.ReadTx))
}

// Config configures the raft member.
type Config struct {
	Dir      string // raft log, stable store and snapshots live here
	NodeID   string
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Store    Reader // the replica the FSM writes, for RPC decisions and its index

	// Cluster mode. Without Net the member is a single-node cluster with
	// an in-memory transport (the embedded default).
	Net       *Net
	TLS       pki.Material
	Bootstrap bool // cluster mode, new state: start a cluster of one

	// Dataplane is this node's data plane as its heartbeats report it
	// (nil: the heartbeats carry no index; WaitDataplane never hears of
	// this node).
	Dataplane Dataplane

	HeartbeatEvery time.Duration // default 1s
	SuspectAfter   time.Duration // default 3s
	DownAfter      time.Duration // default 10s

	// CommitTimeout is how often, at most, the leader tells followers of
	// commits that no barrier announced (see commit.go); default
	// DefaultCommitTimeout. Longer is cheaper when idle.
	CommitTimeout time.Duration
}

// Raft is this node's raft member.
type Raft struct {
	cfg     Config
	raft    *raft.Raft
	wal     *wal.WAL
	meta    *metadb.BoltMetaDB
	log     *slog.Logger
	client  *http.Client
	rpc     *http.Server
	applyMs prometheus.Histogram
	errs    prometheus.Counter
	nudges  prometheus.Counter
	skipped prometheus.Counter
	kick    chan struct{} // a commit to announce (nudge)

	caMu    sync.RWMutex // guards cfg.TLS.CAKey, set on promotion
	hb      heartbeats
	acks    acks
	wg      sync.WaitGroup
	stop    chan struct{}
	closeMu sync.Once
}

// openStores opens the raft log, stable store and snapshot store in dir.
func openStores(dir string) (*wal.WAL, *metadb.BoltMetaDB, raft.SnapshotStore, error) {
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return nil, nil, nil, fmt.Errorf("cluster: state dir: %w", err)
	}
	// raft-wal's Close leaves its meta store (and its file lock) open, so
	// the store is ours to close.
	meta := &metadb.BoltMetaDB{}
	logs, err := wal.Open(walDir, wal.WithMetaStore(meta))
	if err != nil {
		_ = meta.Close()
		return nil, nil, nil, fmt.Errorf("cluster: open raft log in %s: %w", dir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclogFor("raft-snapshots"))
	if err != nil {
		_ = logs.Close()
		_ = meta.Close()
		return nil, nil, nil, fmt.Errorf("cluster: snapshot store: %w", err)
	}
	return logs, meta, snaps, nil
}

// Open starts the raft member.
func Open(cfg Config, fsm raft.FSM) (*Raft, error) {
	cfg.defaults()
	logs, meta, snaps, err := openStores(cfg.Dir)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Raft, error) {
		_ = logs.Close()
		_ = meta.Close()
		return nil, err
	}
	var trans raft.Transport
	var addr raft.ServerAddress
	if cfg.Net != nil {
		addr = raft.ServerAddress(cfg.Net.Addr().String())
		trans = raft.NewNetworkTransportWithLogger(cfg.Net, 3, 10*time.Second, hclogFor("raft-net"))
	} else {
		addr, trans = raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
	}
	rc := raftConfig(cfg.NodeID, cfg.CommitTimeout)
	existing, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		return fail(fmt.Errorf("cluster: inspect state: %w", err))
	}
	if !existing && (cfg.Net == nil || cfg.Bootstrap) {
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: addr}}}
		if err := raft.BootstrapCluster(rc, logs, logs, snaps, trans, boot); err != nil {
			return fail(fmt.Errorf("cluster: bootstrap: %w", err))
		}
	}
	r, err := raft.NewRaft(rc, fsm, logs, logs, snaps, trans)
	if err != nil {
		return fail(fmt.Errorf("cluster: start raft: %w", err))
	}
	c := &Raft{cfg: cfg, raft: r, wal: logs, meta: meta, log: cfg.Logger, stop: make(chan struct{}),
		kick: make(chan struct{}, 1)}
	c.registerMetrics(cfg.Registry)
	if cfg.Net != nil {
		c.client = cfg.Net.HTTPClient()
		c.serveRPC()
		c.wg.Go(c.heartbeatLoop)
		c.wg.Go(c.statusLoop)
		c.wg.Go(c.nudgeLoop)
	}
	return c, nil
}

func (cfg *Config) defaults() {
	if cfg.HeartbeatEvery == 0 {
		cfg.HeartbeatEvery = time.Second
	}
	if cfg.SuspectAfter == 0 {
		cfg.SuspectAfter = 3 * time.Second
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = 10 * time.Second
	}
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

// Readdress rewrites a stopped single-node member's configuration so it
// answers at addr: how `xo cluster init` turns the embedded single-node
// cluster into the first member of a real one, keeping its state.
func Readdress(dir, nodeID, addr string) error {
	logs, meta, snaps, err := openStores(dir)
	if err != nil {
		return err
	}
	defer meta.Close()
	defer logs.Close()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(nodeID), Address: raft.ServerAddress(addr)}}}
	scratch := state.NewFSM(state.NewStore())
	if err := raft.RecoverCluster(raftConfig(nodeID, DefaultCommitTimeout), scratch, logs, logs, snaps, trans, conf); err != nil {
		return fmt.Errorf("cluster: re-address raft state to %s: %w", addr, err)
	}
	return nil
}

func raftConfig(id string, commitTimeout time.Duration) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.HeartbeatTimeout = 500 * time.Millisecond
	rc.ElectionTimeout = 500 * time.Millisecond
	rc.LeaderLeaseTimeout = 250 * time.Millisecond
	rc.CommitTimeout = commitTimeout
	rc.SnapshotThreshold = 4096
	rc.Logger = hclogFor("raft")
	return rc
}

func hclogFor(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: os.Stderr, JSONFormat: true})
}

func (c *Raft) registerMetrics(reg prometheus.Registerer) {
	c.applyMs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "xo_raft_apply_duration_seconds",
		Help:    "Time from proposing a command to its commit and apply (forwarded ones included).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	c.errs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "xo_raft_apply_errors_total",
		Help: "Proposals that failed to commit (not rejections by the FSM).",
	})
	c.nudges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "xo_raft_commit_barriers_total",
		Help: "Barriers the leader appended to tell followers of commits at once (see CommitTimeout).",
	})
	c.skipped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "xo_raft_commit_barriers_skipped_total",
		Help: "Commit barriers not appended because a newer entry already carried the commit index.",
	})
	leader := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "xo_raft_is_leader",
		Help: "1 when this node is the raft leader.",
	}, func() float64 {
		if c.raft.State() == raft.Leader {
			return 1
		}
		return 0
	})
	if reg != nil {
		for _, col := range []prometheus.Collector{c.applyMs, c.errs, c.nudges, c.skipped, leader} {
			if err := reg.Register(col); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
				// A member re-opened after `cluster init`: take over the series.
				reg.Unregister(are.ExistingCollector)
				reg.MustRegister(col)
			}
		}
	}
}

// ErrNoLeader is returned when no leader emerged in time.
var ErrNoLeader = errors.New("cluster: no raft leader")

// WaitLeader blocks until this cluster has a leader.
func (c *Raft) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, id := c.raft.LeaderWithID(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-t.C:
		}
	}
}

// WaitApplied blocks until the local FSM has applied every committed
// entry, so reads see all state written before a restart. raft replays the
// log into the FSM asynchronously: a leader alone is not enough, and
// neither is raft's AppliedIndex, which moves when entries are handed to
// the FSM, before it applied them: on a follower, the store's own index
// (fsmIndex) must reach the last command committed.
func (c *Raft) WaitApplied(ctx context.Context) error {
	if err := c.WaitLeader(ctx); err != nil {
		return err
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if c.raft.State() == raft.Leader {
			err := c.raft.Barrier(timeoutOf(ctx)).Error()
			if err == nil {
				return nil
			}
			if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
				return fmt.Errorf("cluster: wait for state replay: %w", err)
			}
		} else if commit := c.raft.CommitIndex(); commit > 0 && c.raft.AppliedIndex() >= commit &&
			c.fsmIndex() >= c.lastCommandIndex(commit) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: wait for state replay: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func timeoutOf(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return 10 * time.Second
}

// IsLeader reports whether this node leads.
func (c *Raft) IsLeader() bool { return c.raft.State() == raft.Leader }

// LeaderID is the current leader's node ID, "" when unknown.
func (c *Raft) LeaderID() string {
	_, id := c.raft.LeaderWithID()
	return string(id)
}

// Snapshot forces a snapshot covering everything applied so far.
func (c *Raft) Snapshot() error {
	if err := c.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("cluster: snapshot: %w", err)
	}
	return nil
}

// SetCAKey gives a member promoted to manager the CA key, so it can admit
// joining nodes.
func (c *Raft) SetCAKey(k *ecdsa.PrivateKey) {
	c.caMu.Lock()
	defer c.caMu.Unlock()
	c.cfg.TLS.CAKey = k
}

// tlsMaterial is the member's TLS identity.
func (c *Raft) tlsMaterial() pki.Material {
	c.caMu.RLock()
	defer c.caMu.RUnlock()
	return c.cfg.TLS
}

// Close stops raft, the RPC server and the loops, and closes the log.
func (c *Raft) Close() error {
	var err error
	c.closeMu.Do(func() {
		close(c.stop)
		if c.rpc != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = c.rpc.Shutdown(ctx)
			cancel()
		}
		c.wg.Wait()
		err = c.raft.Shutdown().Error()
		if c.cfg.Net != nil {
			_ = c.cfg.Net.Close()
		}
		if cerr := c.wal.Close(); err == nil {
			err = cerr
		}
		if cerr := c.meta.Close(); err == nil {
			err = cerr
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: shutdown: %w", err)
	}
	return nil
}
