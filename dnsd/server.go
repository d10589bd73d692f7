package dnsd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is one host's discovery DNS server. Its methods are safe for
// concurrent use; Update may be called at any time, also before Start.
type Server struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics
	chain handler
	fwd   *forwarder
	hosts []netip.Addr
	idx   atomic.Pointer[index]
	pool  sync.Pool // *request

	// ctx is cancelled by Shutdown: it aborts forwarded queries.
	ctx    context.Context
	cancel context.CancelFunc

	updateMu sync.Mutex // serialises Update, so the newest snapshot wins

	mu    sync.Mutex
	state int // stateNew, stateStarted, stateStopped
	tcp   *dns.Server
	udp   *UDPServer
	addr  string
	wg    sync.WaitGroup // the serving goroutines, and forwarded queries

	lastPanicLog atomic.Int64
}

const (
	stateNew = iota
	stateStarted
	stateStopped
)

// New makes a server from cfg (Defaults is applied, then Validate); it
// registers its metrics on reg (nil: not registered) and answers from an
// empty snapshot until Update. It does not listen before Start.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ups, err := upstreamAddrs(cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	cfg.Upstreams = ups
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, m: m}
	for _, a := range cfg.HostAddrs {
		s.hosts = append(s.hosts, a.Unmap())
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pool.New = func() any { return &request{pack: make([]byte, 0, dns.MinMsgSize)} }
	s.idx.Store(buildIndex(Snapshot{}))

	var rl *rateLimit
	if cfg.ClientQPS > 0 {
		rl = newRateLimit(cfg.ClientQPS, m.ratelimited)
	}
	var c *cache
	if cfg.CacheSize > 0 {
		c = newCache(cfg.CacheSize, cfg.NegativeTTL, m.cacheEntries)
	}
	cl := newCluster(cfg.Domain, cfg.ttlSeconds(), func() records { return s.idx.Load() })
	fw := newForwarder(cfg.Upstreams, cfg.ForwardTimeout, cfg.MaxConcurrent, c, m)
	s.chain, s.fwd = buildChain(rl, cl, fw), fw
	return s, nil
}

// Update makes snap the records answered from now on. The index is
// built (in time linear in the snapshot) before it replaces the old one
// atomically: queries in flight finish on the old one, readers never wait.
// snap must not be changed afterwards.
func (s *Server) Update(snap Snapshot) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	ix := buildIndex(snap)
	s.idx.Store(ix)
	s.m.records.Set(float64(ix.size()))
	s.m.updates.Inc()
}

// UpdateServices changes the listed services of the records answered:
// each name in removed is dropped, then each of changed replaces the
// listed services of its name or is added (a renamed service is its old
// name in removed and itself in changed). The answers are those Update
// would give for the last snapshot so changed; endpoints and networks
// stay as they were. The cost follows the number of services changed,
// not the size of the records, and the index is swapped atomically as
// in Update.
//
// It reports false, and changes nothing, when the change cannot be made
// in place (a VIP sharing its address with another record): the caller
// then gives the whole snapshot to Update.
func (s *Server) UpdateServices(changed []Service, removed []string) bool {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	ix, ok := s.idx.Load().withServices(changed, removed)
	if !ok {
		return false
	}
	s.idx.Store(ix)
	s.m.records.Set(float64(ix.size()))
	s.m.updates.Inc()
	s.m.incremental.Inc()
	return true
}

// Addr is the bound UDP address (TCP listens on the same), "" before
// Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Start binds UDP and TCP on Config.Addr and returns once both serve, or
// the error that kept one from binding. UDP is served by a UDPServer
// (Config.UDPWorkers workers, a socket each), TCP by miekg/dns's dns.Server. The
// serving goroutines belong to the Server and end in Shutdown.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateStarted:
		return errors.New("dnsd: already started")
	case stateStopped:
		return errors.New("dnsd: shut down")
	}
	conns, ln, err := listen(s.cfg.Addr, s.cfg.UDPWorkers)
	if err != nil {
		return err
	}
	udp, err := newUDPServer(conns, s)
	if err != nil {
		closeAll(conns)
		ln.Close()
		return err
	}
	udp.MsgAcceptFunc = acceptQuery
	udp.stamp = true // ServeDNS times queries from their batch's read
	udp.MsgInvalidFunc = func([]byte, error) { s.m.malformed.Inc() }
	tcp := &dns.Server{Listener: ln, Handler: s, MsgAcceptFunc: acceptQuery,
		MsgInvalidFunc: udp.MsgInvalidFunc}
	started := make(chan struct{}, 1)
	failed := make(chan error, 2)
	tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.wg.Go(func() {
		if err := tcp.ActivateAndServe(); err != nil {
			failed <- err
		}
	})
	select {
	case <-started:
	case err := <-failed:
		_ = udp.Shutdown(context.Background())
		ln.Close()
		s.wg.Wait()
		return fmt.Errorf("dnsd: serve %s: %w", s.cfg.Addr, err)
	}
	s.wg.Go(func() {
		if err := udp.Serve(); err != nil {
			failed <- err
		}
	})
	s.tcp, s.udp, s.addr, s.state = tcp, udp, udp.LocalAddr().String(), stateStarted
	// Errors after a successful start mean a socket broke; say so.
	s.wg.Go(func() {
		select {
		case err := <-failed:
			s.log.Error("dns server stopped serving", "addr", s.addr, "err", err)
		case <-s.ctx.Done():
		}
	})
	s.log.Debug("dns server listening", "addr", s.addr, "upstreams", s.cfg.Upstreams)
	return nil
}

// Shutdown stops serving UDP and TCP, aborts forwarded queries and waits
// for the query handlers (also those answering forwarded queries on their
// own goroutines) and serving goroutines to end, or for ctx.
// A shut down server cannot be started again.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	tcp, udp := s.tcp, s.udp
	s.tcp, s.udp, s.state = nil, nil, stateStopped
	s.mu.Unlock()
	s.cancel()

	var errs []error
	if udp != nil {
		errc := make(chan error, 1)
		go func() { errc <- tcp.ShutdownContext(ctx) }()
		if err := udp.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dnsd: shutdown: %w", err)
	}
	return nil
}

// isHost tells whether src sees every network.
func (s *Server) isHost(src netip.Addr) bool {
	return src.IsLoopback() || slices.Contains(s.hosts, src)
}

// acceptQuery is the first filter of raw messages, before they are
// parsed: responses are ignored, opcodes other than QUERY get NOTIMP, and
// messages that cannot be a plain query (not one question, records in
// the answer or authority section, more than an OPT and a TSIG) FORMERR.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore
	}
	if opcode := int(dh.Bits>>11) & 0xF; opcode != dns.OpcodeQuery {
		return dns.MsgRejectNotImplemented
	}
	if dh.Qdcount != 1 || dh.Ancount != 0 || dh.Nscount != 0 || dh.Arcount > 2 {
		return dns.MsgReject
	}
	return dns.MsgAccept
}
