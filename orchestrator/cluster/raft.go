// Package cluster runs the hashicorp/raft member that replicates the state.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Config configures the raft member.
type Config struct {
	Dir      string // raft log, stable store and snapshots live here
	NodeID   string
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Raft is this node's raft member.
type Raft struct {
	raft    *raft.Raft
	wal     *wal.WAL
	meta    *metadb.BoltMetaDB
	log     *slog.Logger
	applyMs prometheus.Histogram
	errs    prometheus.Counter
}

// Open starts the raft member, bootstrapping a single-node cluster when the
// directory holds no state yet.
func Open(cfg Config, fsm raft.FSM) (*Raft, error) {
	walDir := filepath.Join(cfg.Dir, "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: state dir: %w", err)
	}
	// raft-wal's Close leaves its meta store (and its file lock) open, so
	// the store is ours to close.
	meta := &metadb.BoltMetaDB{}
	logs, err := wal.Open(walDir, wal.WithMetaStore(meta))
	if err != nil {
		_ = meta.Close()
		return nil, fmt.Errorf("cluster: open raft log in %s: %w", cfg.Dir, err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hclogFor("raft-snapshots"))
	if err != nil {
		_ = logs.Close()
		_ = meta.Close()
		return nil, fmt.Errorf("cluster: snapshot store: %w", err)
	}
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
	rc := raftConfig(cfg.NodeID)
	existing, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		_ = logs.Close()
		_ = meta.Close()
		return nil, fmt.Errorf("cluster: inspect state: %w", err)
	}
	if !existing {
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: addr}}}
		if err := raft.BootstrapCluster(rc, logs, logs, snaps, trans, boot); err != nil {
			_ = logs.Close()
			_ = meta.Close()
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, fsm, logs, logs, snaps, trans)
	if err != nil {
		_ = logs.Close()
		_ = meta.Close()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	c := &Raft{raft: r, wal: logs, meta: meta, log: cfg.Logger}
	c.registerMetrics(cfg.Registry)
	return c, nil
}

func raftConfig(id string) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(id)
	rc.HeartbeatTimeout = 500 * time.Millisecond
	rc.ElectionTimeout = 500 * time.Millisecond
	rc.LeaderLeaseTimeout = 250 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
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
		Help:    "Time from proposing a command to its commit and apply.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	c.errs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "xo_raft_apply_errors_total",
		Help: "Proposals that failed to commit (not rejections by the FSM).",
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
		reg.MustRegister(c.applyMs, c.errs, leader)
	}
}

// ErrNoLeader is returned when no leader emerged in time.
var ErrNoLeader = errors.New("cluster: no raft leader")

// WaitLeader blocks until this cluster has a leader.
func (c *Raft) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := c.raft.LeaderWithID(); addr != "" {
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
// log into the FSM asynchronously: a leader alone is not enough.
func (c *Raft) WaitApplied(ctx context.Context) error {
	if err := c.WaitLeader(ctx); err != nil {
		return err
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if c.raft.State() == raft.Leader {
			timeout := 10 * time.Second
			if dl, ok := ctx.Deadline(); ok {
				timeout = time.Until(dl)
			}
			if err := c.raft.Barrier(timeout).Error(); err == nil {
				return nil
			} else if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
				return fmt.Errorf("cluster: wait for state replay: %w", err)
			}
		} else if commit := c.raft.CommitIndex(); commit > 0 && c.raft.AppliedIndex() >= commit {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: wait for state replay: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Propose commits one command and returns what the FSM answered.
func (c *Raft) Propose(ctx context.Context, cmd state.Command) (any, error) {
	data, err := state.Encode(cmd)
	if err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	f := c.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		c.errs.Inc()
		return nil, fmt.Errorf("cluster: commit %T: %w", cmd, err)
	}
	c.applyMs.Observe(time.Since(start).Seconds())
	res, _ := f.Response().(state.Result)
	return res.Value, res.Err
}

// IsLeader reports whether this node leads.
func (c *Raft) IsLeader() bool { return c.raft.State() == raft.Leader }

// Close stops raft and closes the log.
func (c *Raft) Close() error {
	err := c.raft.Shutdown().Error()
	if cerr := c.wal.Close(); err == nil {
		err = cerr
	}
	if cerr := c.meta.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cluster: shutdown: %w", err)
	}
	return nil
}
