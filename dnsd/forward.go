package dnsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

var (
	errNoUpstreams = errors.New("dnsd: no upstream resolvers")
	errBusy        = errors.New("dnsd: too many forwarded queries in flight")
	errFailed      = errors.New("dnsd: upstreams failed recently")
)

// forwarder is the last stage: names outside the cluster are answered
// from the cache, or asked of the upstreams in order, each try given an
// equal share of what is left of the deadline, over UDP and again over
// TCP when the answer is truncated. Identical questions in flight share
// one upstream query; at most cap(sem) are in flight, more get SERVFAIL
// at once.
//
// The upstream query is the client's question with RD set, the client's
// CD and DO bits and an EDNS0 size of ednsSize. Client EDNS0 options
// (cookies, client subnet) are not passed on, since answers are shared
// between clients; every client gets its own OPT record back.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	sem       chan struct{}
	cache     *cache // nil: no cache
	group     singleflight.Group
	udp, tcp  *dns.Client
	m         *metrics
	// now is the cache's clock for tests (which move it); nil: a
	// query's arrival time (request.start) for lookups, time.Now for
	// storing.
	now func() time.Time
}

func newForwarder(upstreams []string, timeout time.Duration, maxConcurrent int, c *cache, m *metrics) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		timeout:   timeout,
		sem:       make(chan struct{}, maxConcurrent),
		cache:     c,
		udp:       &dns.Client{Net: "udp", UDPSize: ednsSize, Timeout: timeout},
		tcp:       &dns.Client{Net: "tcp", Timeout: timeout},
		m:         m,
	}
}

func (f *forwarder) setNext(handler) {}

// ServeDNS implements handler.
func (f *forwarder) ServeDNS(ctx context.Context, q *request) (int, error) {
	if len(f.upstreams) == 0 {
		return dns.RcodeServerFailure, errNoUpstreams
	}
	key := keyOf(q)
	if f.cache != nil {
		now := q.start
		if f.now != nil {
			now = f.now()
		}
		if e := f.cache.get(key, now); e != nil {
			f.m.cacheHits.Inc()
			q.source = srcCache
			if e.msg == nil {
				return dns.RcodeServerFailure, errFailed
			}
			return f.reply(q, e.at(e.age(now)))
		}
		f.m.cacheMisses.Inc()
	}
	q.source = srcForward
	if q.detachable {
		q.key = key
		return rcodeLater, nil
	}
	return f.upstream(ctx, q, key)
}

// upstream answers q from the upstreams: the second half of ServeDNS,
// after a cache miss, which Server.serve runs on a goroutine of its own
// when q's writer can be detached.
func (f *forwarder) upstream(ctx context.Context, q *request, key cacheKey) (int, error) {
	v, err, _ := f.group.Do(key.String(), func() (any, error) {
		return f.resolve(ctx, q, key)
	})
	if err != nil {
		return dns.RcodeServerFailure, err
	}
	return f.reply(q, v.(*dns.Msg))
}

// reply writes the shared answer m to q's client: m itself is never
// changed, only a shallow copy of it in q's scratch message (the records
// are shared; Extra is capped so that an OPT record appended for the
// client goes into a slice of its own).
func (f *forwarder) reply(q *request, m *dns.Msg) (int, error) {
	out := &q.reply
	*out = dns.Msg{MsgHdr: m.MsgHdr, Answer: m.Answer, Ns: m.Ns, Extra: m.Extra[:len(m.Extra):len(m.Extra)]}
	out.Id = q.r.Id
	out.Response = true
	out.RecursionDesired = q.r.RecursionDesired
	out.RecursionAvailable = true
	out.Question = q.r.Question[:1]
	return out.Rcode, q.WriteMsg(out)
}

// resolve asks the upstreams for q's question, once for every client
// asking it at the same time, and caches the outcome.
func (f *forwarder) resolve(ctx context.Context, q *request, key cacheKey) (*dns.Msg, error) {
	select {
	case f.sem <- struct{}{}:
	default:
		f.m.forwarded[fwdBusy].Inc()
		return nil, errBusy
	}
	defer func() { <-f.sem }()

	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	resp, err := f.exchange(ctx, upstreamQuery(q))
	if err != nil {
		if isTimeout(err) {
			f.m.forwarded[fwdTimeout].Inc()
		} else {
			f.m.forwarded[fwdError].Inc()
		}
		if f.cache != nil && !errors.Is(err, context.Canceled) {
			f.cache.putFailure(key, f.clock())
		}
		return nil, err
	}
	f.m.forwarded[fwdOK].Inc()
	if f.cache != nil {
		f.cache.put(key, resp, f.clock())
	}
	return resp, nil
}

// clock is the time an answer is stored at.
func (f *forwarder) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// upstreamQuery is the query sent upstream for q.
func upstreamQuery(q *request) *dns.Msg {
	m := &dns.Msg{Question: []dns.Question{q.r.Question[0]}}
	m.RecursionDesired = true
	m.CheckingDisabled = q.r.CheckingDisabled
	m.SetEdns0(ednsSize, q.opt != nil && q.opt.Do())
	return m
}

// exchange tries the upstreams in order until one gives a usable answer.
func (f *forwarder) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	var errs []error
	for i, up := range f.upstreams {
		deadline, _ := ctx.Deadline()
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			errs = append(errs, context.Cause(ctx))
			break
		}
		tctx, cancel := context.WithTimeout(ctx, left/time.Duration(len(f.upstreams)-i))
		resp, err := f.try(tctx, up, m)
		cancel()
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, context.DeadlineExceeded)
	}
	return nil, errors.Join(errs...)
}

// try asks one upstream, over TCP again if the UDP answer is truncated.
// Only NOERROR and NXDOMAIN answers to the question asked are usable; the
// OPT record is removed (every client gets its own).
func (f *forwarder) try(ctx context.Context, up string, m *dns.Msg) (*dns.Msg, error) {
	resp, err := exchangeOnce(ctx, f.udp, m, up)
	if err != nil {
		return nil, fmt.Errorf("dnsd: upstream %s: %w", up, err)
	}
	if resp.Truncated {
		if full, err := exchangeOnce(ctx, f.tcp, m, up); err == nil {
			resp = full
		}
	}
	if !resp.Response || len(resp.Question) != 1 ||
		!strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != m.Question[0].Qtype || resp.Question[0].Qclass != m.Question[0].Qclass {
		return nil, fmt.Errorf("dnsd: upstream %s: answer to another question", up)
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return nil, fmt.Errorf("dnsd: upstream %s: %s", up, rcodeName(resp.Rcode))
	}
	extra := resp.Extra[:0]
	for _, rr := range resp.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	resp.Extra = extra
	return resp, nil
}

// exchangeOnce sends m (with a fresh ID) to up and reads the answer. The
// socket is closed when ctx ends, so Shutdown aborts reads at once (the
// client only watches the context's deadline).
func exchangeOnce(ctx context.Context, c *dns.Client, m *dns.Msg, up string) (*dns.Msg, error) {
	conn, err := c.DialContext(ctx, up)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	m.Id = dns.Id()
	r, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	}
	return r, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("rcode %d", rc)
}
