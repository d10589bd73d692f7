package dnsd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
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
// query than miekg/dns's dns.Server: its workers (goroutines sharing one
// socket) each read a batch of datagrams with one recvmmsg, call the
// handler for each in turn on their own goroutine (no goroutine per
// query) and send the replies of the batch with one sendmmsg. The first
// worker reads all the time; the others join only while the socket has
// a backlog (a full batch was read) and rest again after a small batch,
// so that a light load costs one wake-up per batch, not one per worker.
// Buffers, the ResponseWriters and the request messages are reused.
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
	conn     *net.UDPConn
	local    *net.UDPAddr
	wildcard bool // on an unspecified address: replies set their source
	workers  int

	onBatch func(worker, n int) // tests: called with every batch's size

	// stamp: workers read the clock once per batch (worker.readAt), for
	// a handler that times its queries (dnsd's Server) and would
	// otherwise read it once per query. Set before Serve.
	stamp bool

	closed   atomic.Bool
	stop     chan struct{}  // closed by Shutdown
	wake     chan struct{}  // a backlog: one more worker reads
	detached sync.WaitGroup // queries detached and not answered yet
	mu       sync.Mutex
	serving  bool
	done     chan struct{} // closed when Serve's workers have ended
}

// ListenUDP binds addr ("ip:port"; port 0 picks one) and returns a
// server with workers goroutines (0: GOMAXPROCS) sharing the socket, for
// h. It serves once Serve is called; queries arriving before wait in the
// socket's buffer.
func ListenUDP(addr string, workers int, h dns.Handler) (*UDPServer, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dnsd: listen udp %s: %w", addr, err)
	}
	s, err := newUDPServer(pc.(*net.UDPConn), workers, h)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return s, nil
}

// newUDPServer serves conn, which it closes in Shutdown.
func newUDPServer(conn *net.UDPConn, workers int, h dns.Handler) (*UDPServer, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	s := &UDPServer{handler: h, conn: conn, local: local, workers: workers,
		wildcard: local.IP.IsUnspecified(), done: make(chan struct{}), stop: make(chan struct{}),
		wake: make(chan struct{}, workers)}
	if s.wildcard {
		// As dns.Server does: learn each query's destination address.
		if err := recvDstAddr(conn); err != nil {
			return nil, fmt.Errorf("dnsd: udp %s: destination addresses: %w", local, err)
		}
	}
	return s, nil
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

	errs := make([]error, s.workers)
	var wg sync.WaitGroup
	for i := range s.workers {
		wk, err := newWorker(i, s, s.conn)
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
	s.conn.Close()
	return err
}

// halt makes the workers stop: resting ones at once, reading ones when
// their read fails.
func (s *UDPServer) halt() {
	if !s.closed.Swap(true) {
		close(s.stop)
	}
	_ = s.conn.SetReadDeadline(aLongTimeAgo) // fails once closed
}

// worker is one serving goroutine's state; nothing in it is shared.
type worker struct {
	id    int // 0 always reads; the others help with a backlog
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

// loop reads, answers and sends batches until the server shuts down.
// The first worker always reads; a helper only after a full batch (a
// backlog in the socket) until it reads one that is not full, so that a
// light load wakes one goroutine per batch, not several.
func (wk *worker) loop() error {
	helper := wk.id > 0
	idle := helper
	for {
		if idle {
			select {
			case <-wk.s.wake:
			case <-wk.s.stop:
				return nil
			}
		}
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
		full := n == len(wk.slots)
		if full {
			select {
			case wk.s.wake <- struct{}{}:
			default:
			}
		}
		idle = helper && n < len(wk.slots)/4
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
