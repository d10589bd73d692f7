package l7

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a node's HTTP proxy: listeners speaking HTTP/1.1 (its own
// lean loop) and cleartext HTTP/2 with prior knowledge (net/http's
// HTTP/2 server), routing to upstreams with keep-alive pools to their
// backends. It serves an empty configuration (404 for everything) until
// Update. Its methods are safe for concurrent use. Shutdown or Close
// must be called to release it (it runs a timeout watchdog from New).
type Server struct {
	opts   Options
	log    *slog.Logger
	m      *metrics
	access accessLog
	state  atomic.Pointer[state]
	wd     *watchdog
	h2     *h2front

	// ctx is the parent of every connection's context; Close cancels it.
	ctx     context.Context
	cancel  context.CancelFunc
	closing atomic.Bool

	mu       sync.Mutex // Update, the registries, closing
	backends map[backendKey]*backend
	services map[string]*serviceMetrics
	closed   bool

	connMu    sync.Mutex
	conns     map[*h1conn]struct{}
	listeners map[net.Listener]struct{}
	addr      net.Addr
	serving   sync.WaitGroup // accept loops and connection goroutines

	tunnels tunnels
}

// New makes a Server from opts (defaults filled in) and registers its
// metrics on opts.Registerer. It does not listen before Start or Serve.
func New(opts Options) (*Server, error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("l7: options: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		m:         m,
		backends:  make(map[backendKey]*backend),
		services:  make(map[string]*serviceMetrics),
		conns:     make(map[*h1conn]struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
	switch {
	case opts.AccessLog != nil:
		s.access = newLineLog(opts.AccessLog)
	case opts.AccessLogger != nil:
		s.access = slogLog{opts.AccessLogger}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.state.Store(&state{router: newRouter(nil, nil)})
	s.wd = newWatchdog(&s.opts)
	go s.wd.run(s.sweep)
	s.h2 = newH2Front(s)
	return s, nil
}

func newErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}

// Start listens on Options.Addr and serves in goroutines of the
// Server's, which Shutdown or Close end. It returns the listen error.
func (s *Server) Start() error {
	if s.opts.Addr == "" {
		return errors.New("l7: Start needs Options.Addr (host:port), or call Serve with a listener")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("l7: listen on %s: %w (is another proxy on that port?)", s.opts.Addr, err)
	}
	if !s.addListener(ln) {
		ln.Close()
		return errServerClosed
	}
	go func() {
		defer s.serving.Done()
		s.acceptLoop(ln)
	}()
	s.log.Info("http proxy listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address of the first listener, or nil.
func (s *Server) Addr() net.Addr {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.addr
}

// Serve accepts connections on ln until Shutdown or Close (it returns
// http.ErrServerClosed then) or an accept error, and closes ln.
func (s *Server) Serve(ln net.Listener) error {
	if !s.addListener(ln) {
		ln.Close()
		return http.ErrServerClosed
	}
	defer s.serving.Done()
	return s.acceptLoop(ln)
}

// addListener registers ln and, for its accept loop, one count of
// s.serving (under connMu, so a closing Server's Wait sees it).
func (s *Server) addListener(ln net.Listener) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.serving.Add(1)
	s.listeners[ln] = struct{}{}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	return true
}

func (s *Server) acceptLoop(ln net.Listener) error {
	defer ln.Close()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or similar: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "wait", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("l7: accept: %w", err)
		}
		backoff = 0
		c := s.newH1Conn(nc)
		if !s.track(c) {
			nc.Close()
			continue
		}
		go func() {
			defer s.serving.Done()
			defer s.untrack(c)
			c.serve()
		}()
	}
}

// track registers c and, for its goroutine, one count of s.serving.
func (s *Server) track(c *h1conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.serving.Add(1)
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *h1conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
}

// sweep is the watchdog's round: late client connections are closed,
// late backend connections aborted.
func (s *Server) sweep(now int64) {
	s.connMu.Lock()
	for c := range s.conns {
		c.expire(now)
	}
	s.connMu.Unlock()
	s.mu.Lock()
	for _, b := range s.backends {
		b.pool.Sweep(now)
	}
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle client connections, lets the
// requests in flight finish (then closes their connections) and waits
// for upgraded connections to close, all up to ctx; then it closes what
// is left and every backend connection. It returns ctx's error if ctx
// ended first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	h2err := make(chan error, 1)
	go func() { h2err <- s.h2.srv.Shutdown(ctx) }()
	tunnelsDone := s.tunnels.stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		s.connMu.Lock()
		for c := range s.conns {
			c.closeIdle()
		}
		n := len(s.conns)
		s.connMu.Unlock()
		if n == 0 {
			select {
			case <-tunnelsDone:
			default:
				n = 1
			}
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-tick.C:
			continue
		}
		break
	}
	if e := <-h2err; err == nil && e != nil {
		err = e
	}
	s.finishClose(err != nil)
	return err
}

// Close stops at once: listeners, client connections, tunnels, and the
// backend connections of requests in flight.
func (s *Server) Close() error {
	s.beginClose()
	err := s.h2.srv.Close()
	s.tunnels.stop()
	s.finishClose(true)
	return err
}

// beginClose stops accepting.
func (s *Server) beginClose() {
	s.connMu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	clear(s.listeners)
	s.connMu.Unlock()
	s.h2.ln.Close()
}

// finishClose ends what is left and waits for the Server's goroutines.
func (s *Server) finishClose(abort bool) {
	s.connMu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.connMu.Unlock()
	s.tunnels.closeAll()
	s.mu.Lock()
	s.closed = true
	for _, b := range s.backends {
		if abort {
			b.pool.Abort()
		} else {
			b.pool.Close()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.serving.Wait()
	<-s.h2.done
	s.wd.halt()
}
