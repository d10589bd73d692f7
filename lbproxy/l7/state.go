package l7

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xoverlay/xoverlay/lbproxy/l7/connpool"
	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

// state is one configuration as requests see it; Update replaces it
// whole, atomically.
type state struct {
	router *router
}

// upstreamState is an upstream in one configuration.
type upstreamState struct {
	name         string
	group        *upstream.Group[*backend]
	key          keyFunc // the hash policy's key, or nil
	ipHash       bool
	maxTries     int
	retryTimeout time.Duration
	svc          *serviceMetrics
}

type backendKey struct{ service, addr string }

// backend is one server of one upstream, kept across configurations
// while the server stays: its Peer (health, load, drain), its keep-alive
// pool and its metric children.
type backend struct {
	key   backendKey
	peer  *upstream.Peer
	pool  *connpool.Pool
	svc   *serviceMetrics
	codes *codeCounters
	up    prometheus.Gauge
}

// Update validates cfg and makes it the configuration of new requests,
// atomically. Requests in flight finish on the configuration they
// started with. A backend that is no longer configured is drained: it
// gets no new request, its requests in flight finish, then its
// connections are closed; its idle connections are closed at once. A
// backend that stays keeps its connections, health and in-flight count.
// An invalid cfg changes nothing.
func (s *Server) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("l7: configuration refused, the current one stays: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("l7: Update after Close")
	}
	used := make(map[backendKey]bool)
	ups := make(map[string]*upstreamState, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		us, err := s.buildUpstreamLocked(u, used)
		if err != nil {
			// Not reached for a validated cfg; backends made so far are
			// unused and drained below with the rest.
			s.drainUnusedLocked(used)
			return fmt.Errorf("l7: upstream %q: %w", u.Name, err)
		}
		ups[u.Name] = us
	}
	s.state.Store(&state{router: newRouter(cfg.Routes, ups)})
	drained := s.drainUnusedLocked(used)
	for name, svc := range s.services {
		if svc.configured && ups[name] == nil {
			svc.configured = false
			s.unrefServiceLocked(svc)
		}
	}
	s.m.updates.Inc()
	s.log.Debug("configuration applied", "routes", len(cfg.Routes), "upstreams", len(cfg.Upstreams),
		"backends", len(used), "draining", drained)
	return nil
}

func (s *Server) buildUpstreamLocked(u Upstream, used map[backendKey]bool) (*upstreamState, error) {
	svc := s.services[u.Name]
	if svc == nil {
		svc = s.m.service(u.Name)
		s.services[u.Name] = svc
	}
	if !svc.configured {
		svc.configured = true
		svc.refs++
	}
	members := make([]upstream.Member[*backend], 0, len(u.Servers))
	for _, srv := range u.Servers {
		k := backendKey{u.Name, srv.Addr}
		b := s.backends[k]
		if b != nil && b.peer.Undrain() {
			b.pool.Undrain()
			b.peer.Configure(srv)
		} else {
			b = s.newBackendLocked(k, srv, svc)
		}
		used[k] = true
		members = append(members, upstream.Member[*backend]{Peer: b.peer, Weight: srv.Weight, Backup: srv.Backup, Value: b})
	}
	policy := u.Policy.Or(upstream.RoundRobin)
	g, err := upstream.NewGroup(policy, members)
	if err != nil {
		return nil, err
	}
	us := &upstreamState{
		name:         u.Name,
		group:        g,
		ipHash:       policy == upstream.IPHash,
		maxTries:     u.MaxTries,
		retryTimeout: u.RetryTimeout,
		svc:          svc,
	}
	if us.maxTries == 0 || us.maxTries > len(u.Servers) {
		us.maxTries = max(1, len(u.Servers))
	}
	if us.retryTimeout == 0 {
		us.retryTimeout = s.opts.RetryTimeout
	}
	if policy == upstream.Hash {
		if us.key, err = compileKey(u.HashKey); err != nil {
			return nil, err
		}
	}
	return us, nil
}

func (s *Server) newBackendLocked(k backendKey, srv upstream.Server, svc *serviceMetrics) *backend {
	b := &backend{
		key:   k,
		svc:   svc,
		codes: newCodeCounters(s.m.requests, k.service, k.addr),
		up:    s.m.backendUp.WithLabelValues(k.service, k.addr),
		pool: connpool.New(k.addr, connpool.Options{
			MaxIdle:     s.opts.MaxIdlePerBackend,
			IdleTimeout: s.opts.BackendIdleTimeout,
			DialTimeout: s.opts.ConnectTimeout,
			Dial:        s.opts.Dial,
		}),
	}
	b.up.Set(1)
	log := s.log.With("service", k.service, "backend", k.addr)
	b.peer = upstream.NewPeer(srv, func(up bool) {
		if up {
			b.up.Set(1)
			log.Info("backend answers again")
			return
		}
		b.up.Set(0)
		s := srv.WithDefaults()
		log.Warn("backend down: skipped until fail_timeout has passed and a request to it succeeds",
			"max_fails", s.MaxFails, "fail_timeout", s.FailTimeout)
	})
	s.backends[k] = b
	svc.refs++
	return b
}

// drainUnusedLocked drains the backends not in used and reports how many
// still have requests in flight.
func (s *Server) drainUnusedLocked(used map[backendKey]bool) int {
	n := 0
	for k, b := range s.backends {
		if used[k] || b.peer.Draining() {
			continue
		}
		b.pool.Drain()
		if b.peer.Drain() {
			s.finalizeLocked(b)
			continue
		}
		n++
		s.log.Info("backend removed: draining its requests in flight", "service", k.service, "backend", k.addr, "in_flight", b.peer.Active())
	}
	return n
}

// release ends a request's claim on b; the last request of a draining
// backend closes it.
func (s *Server) release(b *backend) {
	if !b.peer.Release() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finalizeLocked(b)
}

// finalizeLocked closes a drained backend and drops its series, unless
// a newer backend for the same address took its place meanwhile.
func (s *Server) finalizeLocked(b *backend) {
	b.pool.Close()
	if s.backends[b.key] == b {
		delete(s.backends, b.key)
		s.m.deleteBackend(b.key.service, b.key.addr)
	}
	s.log.Debug("backend drained and closed", "service", b.key.service, "backend", b.key.addr)
	s.unrefServiceLocked(b.svc)
}

func (s *Server) unrefServiceLocked(svc *serviceMetrics) {
	svc.refs--
	if svc.refs == 0 && s.services[svc.name] == svc {
		delete(s.services, svc.name)
		s.m.deleteService(svc.name)
	}
}
