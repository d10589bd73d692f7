package dnsd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// handler is one stage of the query path, in the manner of CoreDNS
// plugins: it either answers (writes a reply and returns its rcode) or
// passes the query to the next stage. An rcode for which written is false
// (SERVFAIL, REFUSED, FORMERR, NOTIMP) means nothing was written: the
// chain's caller writes that error reply.
type handler interface {
	ServeDNS(ctx context.Context, q *request) (rcode int, err error)
}

// buildChain is the one place that orders the stages of the query path:
// per-source rate limit, sanity checks of the question, the cluster's own
// records, the RFC 8482 answer to ANY for outside names, then forwarding
// (cache, then upstreams). Stages that are off (no rate limit) are left
// out.
func buildChain(rl *rateLimit, cl *cluster, fw *forwarder) handler {
	stages := []interface {
		handler
		setNext(handler)
	}{}
	if rl != nil {
		stages = append(stages, rl)
	}
	stages = append(stages, &sanity{}, cl, &minimalANY{}, fw)
	for i := len(stages) - 2; i >= 0; i-- {
		stages[i].setNext(stages[i+1])
	}
	return stages[0]
}

// rcodeDrop is returned by a stage that wants no reply sent at all.
const rcodeDrop = -1

// rcodeLater is returned by the forward stage for a query it asks
// upstream and whose writer can be detached (request.detachable): the
// server answers it from a goroutine of its own (Server.serve, resumed),
// so that the other queries of a UDPServer batch need not wait.
const rcodeLater = -2

// written tells whether a stage that returned rcode has written the
// reply itself, as CoreDNS's plugin.ClientWrite does.
func written(rcode int) bool {
	switch rcode {
	case dns.RcodeServerFailure, dns.RcodeRefused, dns.RcodeFormatError, dns.RcodeNotImplemented, rcodeDrop:
		return false
	}
	return true
}

// ednsSize is the UDP payload size this server advertises, in replies and
// to upstreams (the DNS flag day 2020 value).
const ednsSize = 1232

// maxUDPReply caps the reply size a client's EDNS0 size may ask for.
const maxUDPReply = 4096

// Where an answer came from, the `source` label of the duration histogram.
const (
	srcLocal   = iota // refused, malformed, rate-limited, RFC 8482
	srcCluster        // the index
	srcCache          // the forward cache
	srcForward        // an upstream
	numSources
)

var errWritten = errors.New("dnsd: reply already written")

// request is one query on its way through the chain. Requests are
// pooled: the scratch buffers make answering a cluster name allocation
// free apart from what miekg/dns itself does.
type request struct {
	w      dns.ResponseWriter
	r      *dns.Msg
	src    netip.Addr
	host   bool // src sees every network (loopback, Config.HostAddrs)
	tcp    bool
	opt    *dns.OPT // the query's OPT record, nil without EDNS0
	size   int      // the largest UDP reply the client takes
	qtype  uint16
	source int // srcLocal...

	// detachable: w is a Detacher, so forwarding may go on elsewhere.
	detachable bool
	key        cacheKey // the forwarded question, when resumed

	// start is when the query arrived: when UDPServer read its batch
	// (one clock reading per batch, not per query), or when ServeDNS was
	// called. The latency histogram and the cache's clock use it.
	start time.Time

	written bool
	rcode   int

	// Scratch space, valid until the reply is written.
	reply dns.Msg
	myOpt dns.OPT
	extra [1]dns.RR
	addrs []netip.Addr
	as    []dns.A
	aaaas []dns.AAAA
	rrs   []dns.RR
	ips   []byte // backing of the A/AAAA records' addresses
	ptr   dns.PTR
	pack  []byte
}

// reset prepares a pooled request for the query r from w.
func (q *request) reset(w dns.ResponseWriter, r *dns.Msg) {
	q.w, q.r = w, r
	q.start = time.Time{}
	if uw, ok := w.(*udpWriter); ok { // UDPServer: no net.Addr to allocate
		q.src, q.tcp, q.detachable = uw.from.addrPort().Addr().Unmap().WithZone(""), false, true
		if uw.wk != nil {
			q.start = uw.wk.readAt
		}
	} else {
		q.src, q.tcp = sourceOf(w.RemoteAddr())
		_, q.detachable = w.(Detacher)
	}
	q.opt = r.IsEdns0()
	q.size = dns.MinMsgSize
	if q.opt != nil {
		q.size = min(max(int(q.opt.UDPSize()), dns.MinMsgSize), maxUDPReply)
	}
	q.qtype = 0
	if len(r.Question) > 0 {
		q.qtype = r.Question[0].Qtype
	}
	q.source = srcLocal
	q.written, q.rcode = false, 0
	if q.start.IsZero() {
		q.start = time.Now()
	}
}

// release drops the references a pooled request holds.
func (q *request) release() {
	q.w, q.r, q.opt = nil, nil, nil
	q.key = cacheKey{}
	q.reply = dns.Msg{}
	clear(q.rrs[:cap(q.rrs)])
	q.extra[0] = nil
}

// sourceOf returns the client's address and whether it came over TCP.
func sourceOf(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), false
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), true
	}
	return netip.Addr{}, false
}

// newReply starts the reply to q in q's scratch message.
func (q *request) newReply(rcode int) *dns.Msg {
	m := &q.reply
	*m = dns.Msg{}
	m.Id = q.r.Id
	m.Response = true
	m.Opcode = q.r.Opcode
	m.RecursionDesired = q.r.RecursionDesired
	m.CheckingDisabled = q.r.CheckingDisabled
	m.RecursionAvailable = true
	m.Rcode = rcode
	if len(q.r.Question) > 0 && dns.IsFqdn(q.r.Question[0].Name) {
		m.Question = q.r.Question[:1]
	}
	return m
}

// WriteMsg sends m to the client: with an OPT record if the query had
// one, truncated (TC bit) to the client's UDP size over UDP, packed into
// the request's buffer. Only the first reply is sent.
func (q *request) WriteMsg(m *dns.Msg) error {
	if q.written {
		return errWritten
	}
	q.written = true
	q.rcode = m.Rcode
	if q.opt != nil && m.IsEdns0() == nil {
		q.myOpt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		q.myOpt.SetUDPSize(ednsSize)
		q.myOpt.SetDo(q.opt.Do())
		if len(m.Extra) == 0 {
			m.Extra = q.extra[:0]
		}
		m.Extra = append(m.Extra, &q.myOpt)
	}
	if m.Rcode > 0xF && m.IsEdns0() == nil {
		// An extended rcode needs an OPT record to travel in.
		m.Rcode = dns.RcodeServerFailure
		q.rcode = m.Rcode
	}
	if q.tcp {
		m.Compress = len(m.Answer)+len(m.Ns)+len(m.Extra) > 4
	} else {
		m.Compress = false
	}
	buf, err := m.PackBuffer(q.pack[:cap(q.pack)])
	if err == nil && !q.tcp && len(buf) > q.size {
		// Too long for the client: what m.Truncate keeps (compressed,
		// whole RRsets, TC bit). Measuring every reply first costs more
		// than packing the rare long one twice.
		m.Truncate(q.size)
		buf, err = m.PackBuffer(buf[:cap(buf)])
	}
	if err != nil {
		q.written = false // the caller may still send an error reply
		return err
	}
	if cap(buf) <= 2*maxUDPReply {
		q.pack = buf[:0]
	}
	_, err = q.w.Write(buf)
	return err
}

// writeError sends an error reply with no records.
func (q *request) writeError(rcode int) error {
	m := q.newReply(rcode)
	if q.r.Opcode != dns.OpcodeQuery {
		m.RecursionAvailable = false
	}
	return q.WriteMsg(m)
}
