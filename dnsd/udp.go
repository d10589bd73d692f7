package dnsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// udpBatch is how many datagrams a worker reads with one recvmmsg, at
// most, and answers with one sendmmsg.
const udpBatch = 32

// udpReadSize is the read buffer of one datagram: a longer query is cut
// by the kernel, fails to unpack and gets FORMERR (as with miekg/dns's
// server and UDPSize 4096).
const udpReadSize = maxUDPReply

// UDPServer serves DNS over UDP with any dns.Handler, in less CPU per
// query than miekg/dns's dns.Server. Each of its workers (goroutines)
// has a socket of its own, all bound to the one address with
// SO_REUSEPORT, so that the kernel spreads the clients over them (by
// address and port) and the workers share nothing: no socket lock to
// contend for, no wake-ups between them. A worker reads a batch of
// datagrams with one recvmmsg, calls the handler for each in turn on its
// own goroutine (no goroutine per query) and sends the replies of the
// batch with one sendmmsg. Buffers, the ResponseWriters and the request
// messages are reused. Another process of the same user could join the
// group (the kernel allows it to the same user only); dnsd runs as root.
//
// That asks two things of the handler that dns.Server does not:
//
//   - The request message and the ResponseWriter are valid until ServeDNS
//     returns, and the reply is sent after it returns (with the batch).
//   - It must not wait long (on the network), since the other queries of
//     its batch wait for it. A handler that must, calls Detach on the
//     ResponseWriter (it implements Detacher) and answers later, from any
//     goroutine, through the writer Detach returns; the request message
//     is then the handler's to keep.
//
// Packets are filtered as dns.Server does: shorter than a header or not
// unpacking (after MsgAcceptFunc accepted them) they go to
// MsgInvalidFunc; rejected by MsgAcceptFunc or not unpacking, they get
// FORMERR or NOTIMP with the query's header; ignored ones get nothing.
// On a wildcard address the reply leaves from the address the query was
// sent to. TSIG is not supported (TsigStatus is always nil).
type UDPServer struct {
	// MsgAcceptFunc filters queries by their header, before they are
	// unpacked; nil is dns.DefaultMsgAcceptFunc. Set before Serve.
	MsgAcceptFunc dns.MsgAcceptFunc
	// MsgInvalidFunc, if not nil, is called with every packet that is no
	// DNS message. Set before Serve.
	MsgInvalidFunc func(m []byte, err error)

	handler  dns.Handler
	conns    []*net.UDPConn // one per worker, on the same address
	local    *net.UDPAddr
	wildcard bool // on an unspecified address: replies set their source

	onBatch func(worker, n int) // tests: called with every batch's size

	// stamp: workers read the clock once per batch (worker.readAt), for
	// a handler that times its queries (dnsd's Server) and would
	// otherwise read it once per query. Set before Serve.
	stamp bool

	closed   atomic.Bool
	stop     chan struct{}  // closed by Shutdown
	detached sync.WaitGroup // queries detached and not answered yet
	mu       sync.Mutex
	serving  bool
	done     chan struct{} // closed when Serve's workers have ended
}

// ListenUDP binds addr ("ip:port"; port 0 picks one) and returns a
// server with workers goroutines (0: GOMAXPROCS), each on a socket of its
// own, for h. It serves once Serve is called; queries arriving before
// wait in the sockets' buffers.
func ListenUDP(addr string, workers int, h dns.Handler) (*UDPServer, error) {
	conns, err := listenUDP(addr, workers)
	if err != nil {
		return nil, err
	}
	s, err := newUDPServer(conns, h)
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	return s, nil
}

// newUDPServer serves conns, a worker each, which it closes in Shutdown.
func newUDPServer(conns []*net.UDPConn, h dns.Handler) (*UDPServer, error) {
	local := conns[0].LocalAddr().(*net.UDPAddr)
	s := &UDPServer{handler: h, conns: conns, local: local,
		wildcard: local.IP.IsUnspecified(), done: make(chan struct{}), stop: make(chan struct{})}
	if s.wildcard {
		// As dns.Server does: learn each query's destination address.
		for _, c := range conns {
			if err := recvDstAddr(c); err != nil {
				return nil, fmt.Errorf("dnsd: udp %s: destination addresses: %w", local, err)
			}
		}
	}
	return s, nil
}

// listenUDP binds n sockets (0: GOMAXPROCS) to addr, with SO_REUSEPORT
// when there are more than one (only one where the system has no
// SO_REUSEPORT). With port 0 the port is one that no socket used when it
// was picked: a socket with SO_REUSEPORT bound to port 0 could be given
// the port of another group of the same user, and join it.
func listenUDP(addr string, n int) ([]*net.UDPConn, error) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if !haveReusePort {
		n = 1
	}
	ctx := context.Background()
	if n == 1 {
		pc, err := new(net.ListenConfig).ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, fmt.Errorf("dnsd: listen udp %s: %w", addr, err)
		}
		return []*net.UDPConn{pc.(*net.UDPConn)}, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dnsd: listen udp %s: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		at := addr
		if port == "0" {
			// A free port, from a socket without SO_REUSEPORT.
			probe, err := new(net.ListenConfig).ListenPacket(ctx, "udp", addr)
			if err != nil {
				return nil, fmt.Errorf("dnsd: listen udp %s: %w", addr, err)
			}
			at = net.JoinHostPort(host, strconv.Itoa(probe.LocalAddr().(*net.UDPAddr).Port))
			probe.Close()
		}
		lc := net.ListenConfig{Control: reusePort}
		conns := make([]*net.UDPConn, 0, n)
		for len(conns) < n {
			pc, err := lc.ListenPacket(ctx, "udp", at)
			if err != nil {
				closeAll(conns)
				if port == "0" && len(conns) == 0 && attempt < 10 {
					break // taken since: pick another
				}
				return nil, fmt.Errorf("dnsd: listen udp %s: %w", at, err)
			}
			conns = append(conns, pc.(*net.UDPConn))
		}
		if len(conns) == n {
			return conns, nil
		}
	}
}

func closeAll(conns []*net.UDPConn) {
	for _, c := range conns {
		c.Close()
	}
}

// LocalAddr is the bound address.
func (s *UDPServer) LocalAddr() net.Addr { return s.local }

// Serve answers queries until Shutdown, then returns nil (at once if
// Shutdown came first); or the error that broke the socket. It may be
// called once.
func (s *UDPServer) Serve() error {
	s.mu.Lock()
	switch {
	case s.closed.Load():
		s.mu.Unlock()
		return nil
	case s.serving:
		s.mu.Unlock()
		return errors.New("dnsd: udp server already serving")
	}
	s.serving = true
	s.mu.Unlock()
	defer close(s.done)

	errs := make([]error, len(s.conns))
	var wg sync.WaitGroup
	for i, conn := range s.conns {
		wk, err := newWorker(i, s, conn)
		if err != nil {
			errs[i] = err
			s.halt()
			break
		}
		wg.Go(func() {
			if errs[i] = wk.loop(); errs[i] != nil {
				s.halt() // the socket broke: Serve returns
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// aLongTimeAgo is a read deadline that ends blocked reads at once.
var aLongTimeAgo = time.Unix(1, 0)

// Shutdown stops reading, waits until the batches being answered are
// sent and the detached queries are answered (or ctx ends: ctx.Err()),
// and closes the socket. Writers that handlers detached fail from then
// on. Shutdown may be called more than once, also without Serve.
func (s *UDPServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.halt()
	serving := s.serving
	s.mu.Unlock()
	var err error
	if serving {
		select {
		case <-s.done:
			// No more Detach: wait for the detached queries' answers.
			answered := make(chan struct{})
			go func() { s.detached.Wait(); close(answered) }()
			select {
			case <-answered:
			case <-ctx.Done():
				err = ctx.Err()
			}
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	closeAll(s.conns)
	return err
}

// halt makes the workers stop: their reads fail.
func (s *UDPServer) halt() {
	if !s.closed.Swap(true) {
		close(s.stop)
	}
	for _, c := range s.conns {
		_ = c.SetReadDeadline(aLongTimeAgo) // fails once closed
	}
}

// worker is one serving goroutine's state; nothing in it is shared.
type worker struct {
	id    int
	s     *UDPServer
	bc    *batchConn
	slots []udpWriter  // the datagrams read and their ResponseWriters
	out   []*udpWriter // the slots with a reply to send
	// readAt is when the batch being answered was read (UDPServer.stamp).
	readAt time.Time
	names  internNames // the question names of this worker's queries
}

func newWorker(id int, s *UDPServer, conn *net.UDPConn) (*worker, error) {
	wk := &worker{id: id, s: s, slots: make([]udpWriter, udpBatch), out: make([]*udpWriter, 0, udpBatch)}
	for i := range wk.slots {
		wk.slots[i] = udpWriter{conn: conn, local: s.local, wk: wk, in: make([]byte, udpReadSize),
			pack: make([]byte, 0, dns.MinMsgSize)}
		if s.wildcard {
			wk.slots[i].inOOB = make([]byte, oobSize)
		}
	}
	var err error
	wk.bc, err = newBatchConn(conn, wk.slots)
	return wk, err
}

// loop reads, answers and sends batches from its socket until the
// server shuts down.
func (wk *worker) loop() error {
	for {
		n, err := wk.bc.read()
		if err != nil {
			if wk.s.closed.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("dnsd: udp %s: %w", wk.s.local, err)
			}
			// Transient (ENOBUFS, ENOMEM): do not spin on it.
			time.Sleep(time.Millisecond)
			continue
		}
		if wk.s.stamp {
			wk.readAt = time.Now()
		}
		if wk.s.onBatch != nil {
			wk.s.onBatch(wk.id, n)
		}
		for i := range n {
			sl := &wk.slots[i]
			sl.serve(wk.s, sl.in[:sl.n])
		}
		if len(wk.out) > 0 {
			// A reply the kernel refuses is dropped, as a failed
			// write drops it in dns.Server.
			_ = wk.bc.write(wk.out)
			clear(wk.out)
			wk.out = wk.out[:0]
		}
	}
}
