package dnsd

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"

	"github.com/miekg/dns"
)

// Detacher is implemented by the ResponseWriter that UDPServer passes to
// handlers. Detach hands the query over to the handler: the batch's
// replies go out without waiting for its reply, which it writes later,
// from any goroutine, through the returned ResponseWriter; the request
// message is the handler's to keep. The writer Detach was called on must
// not be used afterwards. The query counts as in flight (Shutdown waits
// for it) until the first write on the returned writer, or its Close.
type Detacher interface {
	Detach() dns.ResponseWriter
}

// udpWriter is UDPServer's dns.ResponseWriter. A worker's writers are
// its slots, reused for every batch: one holds a datagram read and, once
// the handler has replied, the reply to send with the batch. A detached
// writer is a fresh one, without worker, that sends at once.
type udpWriter struct {
	conn  *net.UDPConn
	local net.Addr
	from  peer            // the client
	oob   []byte          // control message of the reply (its source address)
	req   *dns.Msg        // the query, for the client's UDP size
	q     [1]dns.Question // req's question, when unpacked by unpackQuery
	wk    *worker         // nil: detached
	state uint8
	done  func() // detached: tells the server the query is answered
	pack  []byte // reply buffer
	reply []byte // the reply queued in the batch

	// Read into by the worker's batchConn.
	in     []byte // the datagram
	n      int
	inOOB  []byte // its control message (wildcard address), or nil
	oobBuf [oobSize]byte
}

// States of a udpWriter.
const (
	udpOpen     = iota
	udpReplied  // the first reply is queued in the batch
	udpDetached // handed over: this writer is done
	udpClosed
)

var (
	errUDPDetached = errors.New("dnsd: write on a detached ResponseWriter")
	errUDPClosed   = errors.New("dnsd: write after Close")
)

// serve answers one datagram through s.handler, or as dns.Server does
// when it is no query: nothing, FORMERR or NOTIMP.
func (w *udpWriter) serve(s *UDPServer, data []byte) {
	w.state = udpOpen
	if len(data) < 12 {
		s.invalid(data, dns.ErrShortRead)
		return
	}
	dh := dns.Header{
		Id:      binary.BigEndian.Uint16(data),
		Bits:    binary.BigEndian.Uint16(data[2:]),
		Qdcount: binary.BigEndian.Uint16(data[4:]),
		Ancount: binary.BigEndian.Uint16(data[6:]),
		Nscount: binary.BigEndian.Uint16(data[8:]),
		Arcount: binary.BigEndian.Uint16(data[10:]),
	}
	accept := s.MsgAcceptFunc
	if accept == nil {
		accept = dns.DefaultMsgAcceptFunc
	}
	if w.req == nil {
		w.req = new(dns.Msg)
	}
	m := w.req
	*m = dns.Msg{}
	action := accept(dh)
	switch action {
	case dns.MsgIgnore:
		return
	case dns.MsgAccept:
		err := w.wk.names.unpackQuery(m, data, &w.q)
		if err == nil {
			s.handler.ServeDNS(w, m)
			return
		}
		s.invalid(data, err)
	default:
		_ = m.Unpack(data[:12]) // the header alone, as dns.Server keeps it
	}
	// The rejection dns.Server sends: the query's header and what was
	// unpacked of its question.
	opcode := m.Opcode
	m.SetRcodeFormatError(m)
	m.Zero = false
	if action == dns.MsgRejectNotImplemented {
		m.Opcode = opcode
		m.Rcode = dns.RcodeNotImplemented
	}
	m.Ns, m.Answer, m.Extra = nil, nil, nil
	_ = w.WriteMsg(m)
}

// invalid reports a packet that is no DNS message.
func (s *UDPServer) invalid(m []byte, err error) {
	if s.MsgInvalidFunc != nil {
		s.MsgInvalidFunc(m, err)
	}
}

// LocalAddr implements dns.ResponseWriter: the server's address.
func (w *udpWriter) LocalAddr() net.Addr { return w.local }

// RemoteAddr implements dns.ResponseWriter: the client's *net.UDPAddr
// (a new one every call: dnsd itself uses from).
func (w *udpWriter) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.from.addrPort()) }

// WriteMsg packs m and sends it; a reply longer than the client takes
// (512 bytes, or its EDNS0 size) is truncated first (m.Truncate).
func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	if err := w.check(); err != nil {
		return err
	}
	inline := w.wk != nil && w.state == udpOpen
	var buf []byte
	if inline {
		buf = w.pack[:cap(w.pack)]
	}
	b, err := m.PackBuffer(buf)
	if err != nil {
		return err
	}
	if size := clientSize(w.req); len(b) > size {
		m.Truncate(size)
		if b, err = m.PackBuffer(b[:cap(b)]); err != nil {
			return err
		}
	}
	if !inline {
		return w.sendNow(b)
	}
	if cap(b) <= 2*maxUDPReply {
		w.pack = b[:0]
	}
	w.state, w.reply = udpReplied, b
	w.wk.out = append(w.wk.out, w)
	return nil
}

// Write sends b as the reply.
func (w *udpWriter) Write(b []byte) (int, error) {
	if err := w.check(); err != nil {
		return 0, err
	}
	if w.wk == nil || w.state != udpOpen {
		return len(b), w.sendNow(b)
	}
	w.pack = append(w.pack[:0], b...)
	w.state, w.reply = udpReplied, w.pack
	w.wk.out = append(w.wk.out, w)
	return len(b), nil
}

// check fails writes on a writer that is done.
func (w *udpWriter) check() error {
	switch w.state {
	case udpDetached:
		return errUDPDetached
	case udpClosed:
		return errUDPClosed
	}
	return nil
}

// sendNow sends b on its own: detached writers, and a second reply.
func (w *udpWriter) sendNow(b []byte) error {
	_, _, err := w.conn.WriteMsgUDPAddrPort(b, w.oob, w.from.addrPort())
	if w.done != nil {
		w.done()
	}
	return err
}

// Detach implements Detacher.
func (w *udpWriter) Detach() dns.ResponseWriter {
	if w.wk == nil {
		return w
	}
	w.wk.s.detached.Add(1)
	if len(w.req.Question) > 0 && &w.req.Question[0] == &w.q[0] {
		// The handler keeps the message: its question must outlive
		// this writer's next query.
		w.req.Question = []dns.Question{w.q[0]}
	}
	d := &udpWriter{conn: w.conn, local: w.local, from: w.from, oob: append([]byte(nil), w.oob...), req: w.req,
		done: sync.OnceFunc(w.wk.s.detached.Done)}
	w.state, w.req = udpDetached, nil // the worker allocates a new message
	return d
}

// Close implements dns.ResponseWriter: later writes fail; on a detached
// writer, it only tells the server that the query is done with.
func (w *udpWriter) Close() error {
	if w.done != nil {
		w.done()
		return nil
	}
	w.state = udpClosed
	return nil
}

// TsigStatus implements dns.ResponseWriter: no TSIG, no error.
func (w *udpWriter) TsigStatus() error { return nil }

// TsigTimersOnly implements dns.ResponseWriter; it does nothing.
func (w *udpWriter) TsigTimersOnly(bool) {}

// Hijack implements dns.ResponseWriter; over UDP it does nothing.
func (w *udpWriter) Hijack() {}

// clientSize is the largest reply the client of query r takes.
func clientSize(r *dns.Msg) int {
	if r != nil {
		if opt := r.IsEdns0(); opt != nil {
			return max(int(opt.UDPSize()), dns.MinMsgSize)
		}
	}
	return dns.MinMsgSize
}
