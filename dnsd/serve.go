package dnsd

import (
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

var _ dns.Handler = (*Server)(nil)

// ServeDNS answers one query: the whole query path, also usable without
// a socket (tests, fuzzing). It never panics: a panic in a stage is
// recovered, counted and answered SERVFAIL. With a writer of UDPServer
// (a Detacher), a query asked upstream is answered from a goroutine of
// the Server's own, and ServeDNS returns at once.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := s.pool.Get().(*request)
	q.reset(w, r)
	q.host = s.isHost(q.src)
	s.serve(q, q.start, false)
}

// serve runs q through the chain, or (resumed) through the upstream half
// of the forward stage, and finishes it: error reply, metrics, release.
func (s *Server) serve(q *request, start time.Time, resumed bool) {
	if resumed {
		defer q.w.Close() // answered or not: UDPServer.Shutdown need not wait
	}
	finished := false
	defer func() {
		if !finished {
			s.recovered(q, recover(), start)
		}
	}()

	var rcode int
	if resumed {
		rcode, _ = s.fwd.upstream(s.ctx, q, q.key)
	} else {
		rcode, _ = s.chain.ServeDNS(s.ctx, q)
	}
	switch {
	case rcode == rcodeLater:
		q.w = q.w.(Detacher).Detach()
		finished = true
		s.wg.Go(func() { s.serve(q, start, true) })
		return
	case q.written:
		rcode = q.rcode
	case rcode == rcodeDrop:
	default:
		if written(rcode) {
			rcode = dns.RcodeServerFailure // a stage claimed to answer and did not
		}
		_ = q.writeError(rcode)
	}
	s.observe(q.qtype, rcode, q.source, start)
	finished = true
	q.release()
	s.pool.Put(q)
}

// observe counts one answered query.
func (s *Server) observe(qtype uint16, rcode, source int, start time.Time) {
	s.m.queries[typeIndex(qtype)][rcodeIndex(rcode)].Inc()
	s.m.duration[source].Observe(time.Since(start).Seconds())
}

// recovered handles a panic in the query path: counted, logged at most
// once a second, answered SERVFAIL if nothing was written yet. The
// request is not reused.
func (s *Server) recovered(q *request, v any, start time.Time) {
	s.m.panics.Inc()
	now := time.Now().UnixNano()
	if last := s.lastPanicLog.Load(); now-last > int64(time.Second) && s.lastPanicLog.CompareAndSwap(last, now) {
		s.log.Error("dns query handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
	if !q.written {
		func() {
			defer func() { _ = recover() }()
			_ = q.writeError(dns.RcodeServerFailure)
		}()
	}
	s.observe(q.qtype, dns.RcodeServerFailure, q.source, start)
}

// listen binds UDP (n sockets, see listenUDP) and TCP on the same
// address. With port 0 the TCP socket takes the port UDP got, retrying
// with another if it is taken.
func listen(addr string, n int) ([]*net.UDPConn, net.Listener, error) {
	ap, err := parseListen(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dnsd: listen %q: %w", addr, err)
	}
	var lc net.ListenConfig
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		conns, err := listenUDP(addr, n)
		if err != nil {
			return nil, nil, err
		}
		port := conns[0].LocalAddr().(*net.UDPAddr).Port
		ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(ap.Addr().String(), strconv.Itoa(port)))
		if err == nil {
			return conns, ln, nil
		}
		closeAll(conns)
		if ap.Port() != 0 || attempt >= 10 {
			return nil, nil, fmt.Errorf("dnsd: listen tcp %s: %w", addr, err)
		}
	}
}
