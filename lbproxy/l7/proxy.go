package l7

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

// exchange is one request on its way through the proxy. They are
// pooled: nothing may keep one after ServeHTTP returns.
type exchange struct {
	s          *Server
	w          http.ResponseWriter
	r          *http.Request
	ctx        context.Context
	st         *state
	u          *upstreamState
	start      time.Time
	ip         string
	upgrade    string
	idempotent bool
	rerouted   bool
	body       requestBody
	h1         *h1writer // the client's HTTP/1 connection, nil for HTTP/2
	sink       headerSink
	resp       backendResponse
	key        upstream.Key
	tried      upstream.Tried
	tries      int
	next       int // a member already picked for the next try, or -1

	// The outcome.
	status   int
	written  int64
	backend  *backend // the backend that answered, nil if the proxy did
	err      error    // the last failure
	timeout  bool     // the last failure was a timeout
	abort    bool     // the answer was cut: abort the client's connection
	observed bool     // the duration is recorded already (upgrades)
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// ServeHTTP routes and proxies one request. The Server's listeners call
// it for HTTP/2; it also lets the proxy be mounted in another server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.handle(w, r, r.Context()) {
		// The backend's answer broke off after its headers went out:
		// make net/http cut the client's connection (or stream) so the
		// client sees a truncated answer, not a complete one.
		panic(http.ErrAbortHandler)
	}
}

// handle serves one request; ctx ends when the client's connection
// does. It reports whether the answer broke off and the client's
// connection must be cut.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, ctx context.Context) (abort bool) {
	start := s.opts.Now()
	st := s.state.Load()
	u := st.router.match(r.Host, r.URL.Path)
	if u == nil {
		s.notFound(w, r, start)
		return false
	}
	x := exchanges.Get().(*exchange)
	*x = exchange{s: s, w: w, r: r, ctx: ctx, st: st, u: u, start: start, next: -1, sink: plainSink{}}
	x.body.srv = s
	if hw, ok := w.(*h1writer); ok {
		x.sink, x.h1 = hw, hw
		x.body.conn = hw.c
	}
	x.serve()
	x.finish()
	abort = x.abort
	x.body.release()
	*x = exchange{}
	exchanges.Put(x)
	return abort
}

// Results of one try.
type tryResult int

const (
	tryDone  tryResult = iota // the client has its answer (or is gone)
	tryNext                   // failed; another backend may be tried
	tryFail                   // failed; no other backend may be tried
	tryStale                  // a reused connection was found closed: try a fresh one
)

func (x *exchange) serve() {
	r := x.r
	if r.Method == http.MethodConnect {
		x.reply(http.StatusMethodNotAllowed, "xo: CONNECT is not supported: this is a reverse proxy, not a forward proxy\n")
		return
	}
	x.ip = clientIP(r.RemoteAddr)
	x.upgrade = upgradeOf(r)
	x.idempotent = idempotent(r.Method)
	x.setKey()
	if x.u.group.Len() == 0 {
		x.reply(http.StatusServiceUnavailable, "xo: service "+quote(x.u.name)+" has no backends (no task is running or healthy)\n")
		return
	}
	if err := x.body.prepare(r, x.idempotent && x.u.maxTries > 1, x.s.opts.RetryBodyLimit); err != nil {
		x.reply(http.StatusBadRequest, "xo: reading the request body: "+err.Error()+"\n")
		return
	}
	for {
		i := x.pick()
		if i < 0 {
			break
		}
		b := x.u.group.Value(i)
		x.tries++
		if x.tries > 1 {
			x.u.svc.retries.Inc()
		}
		x.u.svc.active.Inc()
		res := x.try(b)
		x.u.svc.active.Dec()
		x.s.release(b)
		switch res {
		case tryDone:
			return
		case tryFail:
			x.replyFailure()
			return
		}
		if x.tries >= x.u.maxTries || x.s.opts.Now().Sub(x.start) >= x.u.retryTimeout {
			break
		}
	}
	if x.next >= 0 {
		x.s.release(x.u.group.Value(x.next))
		x.next = -1
	}
	x.replyFailure()
}

func (x *exchange) setKey() {
	switch {
	case x.u.key != nil:
		x.key = upstream.KeyString(x.u.key(x.r, x.ip))
	case x.u.ipHash:
		x.key = ipKey(x.ip)
	default:
		x.key = upstream.NoKey
	}
}

// pick claims the next backend to try, or returns -1. A request routed
// just before an Update whose backends all left (draining) is routed
// again on the new configuration, once.
func (x *exchange) pick() int {
	if i := x.next; i >= 0 {
		x.next = -1
		return i
	}
	now := x.start
	if x.tries > 0 {
		now = x.s.opts.Now()
	}
	if i := x.u.group.Pick(now, x.key, &x.tried); i >= 0 {
		x.tried.Add(i)
		return i
	}
	if x.tries == 0 && !x.rerouted {
		x.rerouted = true
		if st := x.s.state.Load(); st != x.st {
			x.st = st
			if u := st.router.match(x.r.Host, x.r.URL.Path); u != nil && u != x.u {
				x.u, x.tried = u, upstream.Tried{}
				x.setKey()
				return x.pick()
			}
		}
	}
	return -1
}

// pickAhead claims the backend of the next try before the current
// answer is thrown away, so that answer can still be passed on when no
// other backend is left.
func (x *exchange) pickAhead() int {
	if x.tries >= x.u.maxTries || x.s.opts.Now().Sub(x.start) >= x.u.retryTimeout {
		return -1
	}
	i := x.u.group.Pick(x.s.opts.Now(), x.key, &x.tried)
	if i >= 0 {
		x.tried.Add(i)
	}
	return i
}

// backendDeadline is when a backend wait started now times out.
func (s *Server) backendDeadline() int64 { return s.wd.deadline(s.opts.BackendTimeout) }

// finish records the request in the metrics and the access log.
func (x *exchange) finish() {
	end := x.s.opts.Now()
	if x.backend != nil {
		x.backend.codes.inc(x.status)
	} else {
		x.u.svc.local.inc(x.status)
	}
	if !x.observed {
		x.u.svc.duration.Observe(end.Sub(x.start).Seconds())
	}
	if x.s.access != nil {
		x.s.access.log(x.r, entry{
			start: x.start, end: end, status: x.status, bytes: x.written, ip: x.ip,
			service: x.u.name, backend: x.backendAddr(), tries: x.tries,
		})
	}
}

func (x *exchange) backendAddr() string {
	if x.backend == nil {
		return ""
	}
	return x.backend.key.addr
}

// notFound answers a request no route matches.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, start time.Time) {
	msg := "xo: no route for host " + quote(normalizeHost(r.Host)) + " and path " + quote(r.URL.Path) +
		": route it with a service's xo.http.host and xo.http.path labels\n"
	n := writeText(w, http.StatusNotFound, msg)
	s.m.unrouted.inc(http.StatusNotFound)
	if s.access != nil {
		s.access.log(r, entry{start: start, end: s.opts.Now(), status: http.StatusNotFound, bytes: n, ip: clientIP(r.RemoteAddr)})
	}
}
