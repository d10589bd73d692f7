package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/xoverlay/xoverlay/orchestrator/pki"
)

// Net is the cluster port: one TLS listener whose connections go, by ALPN,
// to raft (only with a verified node certificate) or to the node RPC
// server. It is raft's StreamLayer.
type Net struct {
	mat       pki.Material
	advertise net.Addr
	ln        net.Listener
	raftConns chan net.Conn
	rpc       *chanListener
	log       *slog.Logger
	wg        sync.WaitGroup
	closeOnce sync.Once
	done      chan struct{}
}

var _ raft.StreamLayer = (*Net)(nil)

// Listen opens the cluster port on bind, advertised to others as advertise.
func Listen(bind, advertise string, mat pki.Material, log *slog.Logger) (*Net, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("cluster: advertise address %q: %w", advertise, err)
	}
	ln, err := tls.Listen("tcp", bind, mat.ServerConfig())
	if err != nil {
		return nil, fmt.Errorf("cluster: listen on %s: %w", bind, err)
	}
	n := &Net{
		mat: mat, advertise: adv, ln: ln, log: log,
		raftConns: make(chan net.Conn), done: make(chan struct{}),
		rpc: newChanListener(ln.Addr()),
	}
	n.wg.Go(n.acceptLoop)
	return n, nil
}

func (n *Net) acceptLoop() {
	for {
		c, err := n.ln.Accept()
		if err != nil {
			select {
			case <-n.done:
				return
			default:
			}
			n.log.Warn("cluster port accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		n.wg.Go(func() { n.route(c.(*tls.Conn)) })
	}
}

// route finishes the handshake and hands the connection on by protocol.
func (n *Net) route(c *tls.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		n.log.Debug("cluster port handshake", "remote", c.RemoteAddr(), "err", err)
		_ = c.Close()
		return
	}
	cs := c.ConnectionState()
	var out chan net.Conn
	switch cs.NegotiatedProtocol {
	case pki.ProtoRaft:
		if _, _, ok := pki.PeerNode(&cs); !ok {
			n.log.Warn("refused raft connection without a cluster certificate", "remote", c.RemoteAddr())
			_ = c.Close()
			return
		}
		out = n.raftConns
	case pki.ProtoRPC:
		// http.Server drops TLS connections whose ALPN protocol it has no
		// handler for; hand it a plain conn and the TLS state beside it.
		out, c2 := n.rpc.conns, &rpcConn{Conn: c, state: cs}
		select {
		case out <- c2:
		case <-n.done:
			_ = c.Close()
		}
		return
	default:
		_ = c.Close()
		return
	}
	select {
	case out <- c:
	case <-n.done:
		_ = c.Close()
	}
}

// Accept returns the next raft connection.
func (n *Net) Accept() (net.Conn, error) {
	select {
	case c := <-n.raftConns:
		return c, nil
	case <-n.done:
		return nil, net.ErrClosed
	}
}

// Addr is the advertised address.
func (n *Net) Addr() net.Addr { return n.advertise }

// Dial opens a raft stream to another node.
func (n *Net) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(addr), n.mat.ClientConfig(pki.ProtoRaft))
}

// RPCListener yields the node RPC connections.
func (n *Net) RPCListener() net.Listener { return n.rpc }

// HTTPClient talks node RPC to other nodes over mutual TLS.
func (n *Net) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     n.mat.ClientConfig(pki.ProtoRPC),
			MaxIdleConnsPerHost: 64, // concurrent forwards must not re-dial mutual TLS
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// Close stops the port and waits for its goroutines.
func (n *Net) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.done)
		err = n.ln.Close()
		_ = n.rpc.Close()
		n.wg.Wait()
	})
	return err
}

// chanListener is a net.Listener fed with already-accepted connections.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// rpcConn is an RPC connection whose TLS handshake is done.
type rpcConn struct {
	net.Conn
	state tls.ConnectionState
}

type tlsStateKey struct{}

// connContext puts a connection's TLS state where RPC handlers find it.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*rpcConn); ok {
		return context.WithValue(ctx, tlsStateKey{}, &rc.state)
	}
	return ctx
}

// tlsState is the TLS state of the connection a request came on.
func tlsState(ctx context.Context) *tls.ConnectionState {
	cs, _ := ctx.Value(tlsStateKey{}).(*tls.ConnectionState)
	return cs
}
