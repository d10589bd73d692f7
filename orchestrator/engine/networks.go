package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"

	"github.com/xoverlay/xoverlay/netdriver"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// NetworkAPI is the part of the engine API NetworkSync uses.
type NetworkAPI interface {
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, networkID string) error
}

// WatchCluster is a Cluster whose commits can be followed.
type WatchCluster interface {
	Cluster
	Watch() (<-chan state.Event, func())
}

// NetworkSync gives the local engine a copy of every network created on
// any host, and removes the copy when the network is being removed. Each
// copy is created through the engine API, so the engine calls the driver
// like for `docker network create`, asking the IPAM for the existing pool.
type NetworkSync struct {
	docker   NetworkAPI
	cluster  WatchCluster
	node     string
	driver   string
	log      *slog.Logger
	every    time.Duration // full resync
	debounce time.Duration // coalesces a burst of commits
	timeout  time.Duration // per engine call
	settle   time.Duration // how long a copy of a network being removed is left to its own removal
	retry    *backoff
	now      func() time.Time

	mu      sync.Mutex // serialises Sync
	notes   map[string]string
	missing map[string]bool // networks whose removal found the engine without them once
}

// NewNetworkSync returns the network sync of node's engine; driver is the
// name the xoverlay plugin has for the engine (network and IPAM driver).
func NewNetworkSync(docker NetworkAPI, cluster WatchCluster, node, driver string, log *slog.Logger) *NetworkSync {
	return &NetworkSync{
		docker: docker, cluster: cluster, node: node, driver: driver, log: log,
		every: 10 * time.Second, debounce: 10 * time.Millisecond, timeout: 30 * time.Second, settle: time.Second,
		retry: newBackoff(time.Second, time.Minute), now: time.Now, notes: map[string]string{}, missing: map[string]bool{},
	}
}

// Run syncs at once, after every commit touching networks or nodes, every
// 10 seconds, and when a failed step is due for a retry; until ctx ends.
func (s *NetworkSync) Run(ctx context.Context) {
	RunLoop(ctx, s.cluster.Watch, networkEvent, s.debounce, s.every, func(ctx context.Context) time.Time {
		_ = s.Sync(ctx) // every failure is logged where it happens
		return s.retry.next()
	})
}

func networkEvent(e state.Event) bool { return e.Kind != "endpoint" }

// Sync makes one pass: it plans from the state and the engine's networks,
// then acts. Steps still backing off after a failure are skipped.
func (s *NetworkSync) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.retry.ready("list", s.now()) {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	local, err := s.docker.NetworkList(lctx, network.ListOptions{})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := s.retry.failed("list", s.now())
		s.log.Warn("list engine networks; will retry", "err", err, "retry_in", wait)
		return fmt.Errorf("engine: list networks: %w", err)
	}
	s.retry.succeeded("list")
	var plan NetworkPlan
	s.cluster.View(func(tx state.ReadTx) {
		hostname := s.node
		if n := tx.Node(s.node); n != nil && n.Hostname != "" {
			hostname = n.Hostname
		}
		plan = PlanNetworks(s.node, hostname, s.driver, tx.Networks(), local)
	})
	s.logNotes(plan.Notes)
	now := s.now()
	planned := map[string]bool{"list": true}
	var errs []error
	step := func(key string, fn func(context.Context) error) {
		planned[key] = true
		if !s.retry.ready(key, now) {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		if err := fn(sctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := s.retry.failed(key, s.now())
			s.log.Warn("network sync step failed; will retry", "step", key, "err", err, "retry_in", wait)
			errs = append(errs, err)
			return
		}
		s.retry.succeeded(key)
	}
	for _, e := range plan.Errors {
		step("error/"+e.NetworkID, func(ctx context.Context) error { return s.setError(ctx, e) })
	}
	for _, r := range plan.Remove {
		// On the host where the network was removed, its copy is being
		// removed right now (the driver marked it): give that a moment.
		key := "remove/" + r.NetworkID
		s.retry.hold(key, now.Add(s.settle))
		step(key, func(ctx context.Context) error { return s.remove(ctx, r) })
	}
	for _, id := range plan.Purge {
		step("purge/"+id, func(ctx context.Context) error { return s.purge(ctx, id) })
	}
	for _, c := range plan.Create {
		step("create/"+c.ID, func(ctx context.Context) error { return s.create(ctx, c) })
	}
	s.retry.keep(planned)
	for id := range s.missing {
		if !planned["remove/"+id] {
			delete(s.missing, id)
		}
	}
	return errors.Join(errs...)
}

func (s *NetworkSync) setError(ctx context.Context, e state.SetNetworkError) error {
	if e.Error != "" {
		s.log.Warn("network cannot be created on this host", "network", e.NetworkID, "reason", e.Error)
	} else {
		s.log.Info("network conflict resolved", "network", e.NetworkID)
	}
	if _, err := s.cluster.Propose(ctx, e); err != nil {
		return fmt.Errorf("engine: record error of network %s: %w", e.NetworkID, err)
	}
	return nil
}

func (s *NetworkSync) create(ctx context.Context, c NetworkCopy) error {
	start := time.Now()
	resp, err := s.docker.NetworkCreate(ctx, c.Name, c.CreateOptions(s.driver))
	if err != nil {
		return fmt.Errorf("engine: create network %s (%s) on this host: %w", c.Name, c.ID, err)
	}
	s.log.Info("created this host's copy of network", "network", c.ID, "name", c.Name, "engine_id", resp.ID,
		"subnet", c.Subnet, "vni", c.VNI, "took", time.Since(start))
	return nil
}

// remove asks the engine to remove its copy; the engine calls the driver's
// DeleteNetwork, which drops this host's record. When the engine does not
// have the network twice in a row (once could be its own removal under
// way), the record is dropped here.
func (s *NetworkSync) remove(ctx context.Context, r EngineCopy) error {
	err := s.docker.NetworkRemove(ctx, r.EngineID)
	if err == nil {
		delete(s.missing, r.NetworkID)
		s.log.Info("removed this host's copy of network", "network", r.NetworkID, "name", r.Name, "engine_id", r.EngineID)
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("engine: remove network %s (%s) from this host: %w", r.Name, r.NetworkID, err)
	}
	if !s.missing[r.NetworkID] {
		s.missing[r.NetworkID] = true
		return fmt.Errorf("engine: remove network %s (%s) from this host: the engine does not have it: %w", r.Name, r.NetworkID, err)
	}
	delete(s.missing, r.NetworkID)
	s.log.Info("engine no longer has network being removed; dropping this host's record", "network", r.NetworkID)
	if _, err := s.cluster.Propose(ctx, state.DetachEngine{NetworkID: r.NetworkID, Node: s.node}); err != nil {
		return fmt.Errorf("engine: detach network %s: %w", r.NetworkID, err)
	}
	return s.purge(ctx, r.NetworkID)
}

// purge deletes a network being removed that no engine holds any more.
func (s *NetworkSync) purge(ctx context.Context, id string) error {
	if _, err := s.cluster.Propose(ctx, state.RemoveNetwork{NetworkID: id, Node: s.node}); err != nil {
		return fmt.Errorf("engine: remove network %s from the state: %w", id, err)
	}
	return nil
}

// logNotes logs each note once, and again only when it changes.
func (s *NetworkSync) logNotes(notes map[string]string) {
	for id, msg := range notes {
		if s.notes[id] != msg {
			s.log.Warn("network left alone", "network", id, "reason", msg)
		}
	}
	s.notes = maps.Clone(notes)
}

// NetworkPlan is what one host's sync does to converge.
type NetworkPlan struct {
	Create []NetworkCopy           // networks to create on this engine
	Remove []EngineCopy            // this engine's copies of networks being removed
	Purge  []string                // networks being removed that no engine holds
	Errors []state.SetNetworkError // this node's error to set or clear, per network
	Notes  map[string]string       // network ID -> why it is left alone (logged only)
}

// NetworkCopy is what creating a network's copy on an engine needs.
type NetworkCopy struct {
	ID, Name, Subnet, IPRange, Gateway string
	VNI                                uint32
	Aux                                map[string]string // name -> IP
	Options                            map[string]string // driver options
}

// EngineCopy names one engine's copy of a network.
type EngineCopy struct{ NetworkID, Name, EngineID string }

// CreateOptions is the engine request creating c with driver (the
// xoverlay plugin as network and IPAM driver): the IPAM option names the
// network, so the IPAM hands out its existing pool, and the VNI option
// makes the driver check it is that network's.
func (c NetworkCopy) CreateOptions(driver string) network.CreateOptions {
	opts := maps.Clone(c.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	opts[netdriver.OptVNI] = strconv.FormatUint(uint64(c.VNI), 10)
	return network.CreateOptions{
		Driver: driver,
		IPAM: &network.IPAM{
			Driver:  driver,
			Options: map[string]string{netdriver.IPAMOptNetwork: c.ID},
			Config: []network.IPAMConfig{{
				Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, AuxAddress: maps.Clone(c.Aux),
			}},
		},
		Options: opts,
	}
}

// PlanNetworks decides, for node (called hostname) whose engine has the
// networks local, what to create, remove and report. It only reads nets,
// which may be the store's own objects. The rules:
//
//   - A network is copied when it is created somewhere (VNI set, an engine
//     holds it, it has its name), is not being removed, this engine lacks
//     it, and nothing below stands in the way.
//   - Two networks of the state with the same name (created at once on two
//     hosts) are a name conflict: neither is copied anywhere, and every
//     node records the conflict on both until one is removed.
//   - An engine network with the network's name that is not it (another
//     driver, or another subnet) blocks the copy; the node records why.
//     One of the same driver and subnet is only noted (it is most likely
//     this network, whose record the state lost).
//   - A network being removed that this engine holds is removed from it;
//     once no engine holds it, it is purged from the state.
//
// This node's error on each network is set to what the rules say, and
// cleared when nothing stands in the way any more.
func PlanNetworks(node, hostname, driver string, nets []*state.Network, local []network.Summary) NetworkPlan {
	plan := NetworkPlan{Notes: map[string]string{}}
	conflicts := nameConflicts(nets)
	leaving := map[string]bool{} // engine IDs of this engine's copies being removed
	for _, n := range nets {
		if id, ok := n.Engines[node]; ok && n.Deleting {
			leaving[id] = true
		}
	}
	byName := map[string][]network.Summary{}
	for _, l := range local {
		byName[l.Name] = append(byName[l.Name], l)
	}
	for _, n := range nets {
		engineID, held := n.Engines[node]
		if n.Deleting {
			switch {
			case held:
				plan.Remove = append(plan.Remove, EngineCopy{NetworkID: n.ID, Name: n.Name, EngineID: engineID})
			case len(n.Engines) == 0:
				plan.Purge = append(plan.Purge, n.ID)
			}
			continue
		}
		if n.VNI == 0 || len(n.Engines) == 0 || n.Name == "" {
			continue // pending: the first engine is still creating it
		}
		reason, wait := conflicts[n.ID], ""
		if reason == "" && !held {
			reason, wait = localConflict(n, hostname, driver, byName[n.Name], leaving)
		}
		if n.Errors[node] != reason {
			plan.Errors = append(plan.Errors, state.SetNetworkError{NetworkID: n.ID, Node: node, Error: reason})
		}
		switch {
		case held || reason != "":
		case wait != "":
			plan.Notes[n.ID] = wait
		default:
			plan.Create = append(plan.Create, NetworkCopy{
				ID: n.ID, Name: n.Name, Subnet: n.Subnet, IPRange: n.IPRange, Gateway: n.Gateway,
				VNI: n.VNI, Aux: maps.Clone(n.Aux), Options: maps.Clone(n.Options),
			})
		}
	}
	return plan
}

// nameConflicts maps the ID of each created network that shares its name
// with another to the conflict's description.
func nameConflicts(nets []*state.Network) map[string]string {
	byName := map[string][]string{}
	for _, n := range nets {
		if n.Name != "" && n.VNI != 0 && len(n.Engines) > 0 && !n.Deleting {
			byName[n.Name] = append(byName[n.Name], n.ID)
		}
	}
	out := map[string]string{}
	for name, ids := range byName {
		if len(ids) < 2 {
			continue
		}
		sort.Strings(ids)
		var msg string
		if len(ids) == 2 {
			msg = fmt.Sprintf("name conflict: networks %s and %s are both called %s; remove one of them", ids[0], ids[1], name)
		} else {
			msg = fmt.Sprintf("name conflict: networks %s and %s are all called %s; remove all but one of them",
				strings.Join(ids[:len(ids)-1], ", "), ids[len(ids)-1], name)
		}
		for _, id := range ids {
			out[id] = msg
		}
	}
	return out
}

// localConflict says why the engine networks called like n block creating
// n here: reason when it is a conflict for the user to solve, wait when
// the block should go away by itself (a copy of another network that is
// being removed, or one that looks like n itself).
func localConflict(n *state.Network, hostname, driver string, named []network.Summary, leaving map[string]bool) (reason, wait string) {
	for _, l := range named {
		subnets := localSubnets(l)
		switch {
		case leaving[l.ID]:
			wait = fmt.Sprintf("waiting for the engine to remove network %s (%s), being removed from every host", l.Name, l.ID)
			continue
		case l.Driver == driver && len(subnets) == 1 && subnets[0] == n.Subnet:
			wait = fmt.Sprintf("the engine has a %s network %s (%s) with subnet %s that the state does not record as this host's copy; remove it to let the agent create the copy",
				driver, l.Name, l.ID, n.Subnet)
			continue
		}
		shown := strings.Join(subnets, ", ")
		if shown == "" {
			shown = "none"
		}
		return fmt.Sprintf("host %s already has a network named %s (driver %s, subnet %s); rename one of them",
			hostname, n.Name, l.Driver, shown), ""
	}
	return "", wait
}

func localSubnets(l network.Summary) []string {
	var out []string
	for _, c := range l.IPAM.Config {
		if c.Subnet != "" {
			out = append(out, c.Subnet)
		}
	}
	return out
}

// RunLoop calls fn at once and then again after store events that match
// (a burst is coalesced: fn runs debounce after the first event), every
// period, and at the time fn last returned (zero: none); until ctx ends.
// fn runs on the caller's goroutine, never concurrently with itself. A
// closed event channel is watched anew and counts as a change, since
// events may have been missed; so does an overflowing one, whose queued
// events still trigger the next run.
func RunLoop(ctx context.Context, watch func() (<-chan state.Event, func()), match func(state.Event) bool,
	debounce, period time.Duration, fn func(context.Context) time.Time) {
	events, cancel := watch()
	defer func() { cancel() }()
	tick := time.NewTicker(period)
	defer tick.Stop()
	soon := time.NewTimer(time.Hour) // debounce after an event
	soon.Stop()
	defer soon.Stop()
	wake := time.NewTimer(time.Hour) // the time fn asked for
	wake.Stop()
	defer wake.Stop()
	pending := false
	rewatch := 100 * time.Millisecond
	run := func() {
		pending = false
		soon.Stop()
		at := fn(ctx)
		wake.Stop()
		if !at.IsZero() {
			wake.Reset(max(time.Until(at), time.Millisecond))
		}
	}
	run()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				cancel()
				select {
				case <-ctx.Done():
					return
				case <-time.After(rewatch):
				}
				rewatch = min(rewatch*2, 5*time.Second)
				events, cancel = watch()
				run()
				continue
			}
			if !pending && (match == nil || match(e)) {
				pending = true
				soon.Reset(debounce)
			}
		case <-soon.C:
			run()
		case <-tick.C:
			run()
		case <-wake.C:
			run()
		}
	}
}

// backoff spaces out the retries of failing steps, per key: 1, 2, 4 ...
// times base, at most limit. It is safe for concurrent use.
type backoff struct {
	mu          sync.Mutex
	base, limit time.Duration
	keys        map[string]retryState
}

type retryState struct {
	fails int
	at    time.Time // not before
}

func newBackoff(base, limit time.Duration) *backoff {
	return &backoff{base: base, limit: limit, keys: map[string]retryState{}}
}

// ready reports whether key may be tried at now.
func (b *backoff) ready(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !now.Before(b.keys[key].at)
}

// failed records a failure of key at now and returns the wait before the
// next try.
func (b *backoff) failed(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.keys[key]
	wait := b.base << min(st.fails, 20)
	wait = min(wait, b.limit)
	st.fails++
	st.at = now.Add(wait)
	b.keys[key] = st
	return wait
}

// hold makes a key seen for the first time wait until at; a key already
// known (waiting, or backing off) is left as it is.
func (b *backoff) hold(key string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.keys[key]; !ok {
		b.keys[key] = retryState{at: at}
	}
}

// succeeded forgets key's failures.
func (b *backoff) succeeded(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, key)
}

// keep forgets every key not in live (steps no longer planned).
func (b *backoff) keep(live map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.keys {
		if !live[k] {
			delete(b.keys, k)
		}
	}
}

// next is the earliest time a backed-off key is due, zero when none is.
func (b *backoff) next() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	var at time.Time
	for _, st := range b.keys {
		if at.IsZero() || st.at.Before(at) {
			at = st.at
		}
	}
	return at
}
