package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/lbproxy/l7"
)

// DialFunc connects to a backend.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ListenFunc opens an HTTP listener on a port of the node.
type ListenFunc func(port uint16) (net.Listener, error)

// ListenHost listens on every address of the host's namespace.
func ListenHost(port uint16) (net.Listener, error) {
	return net.Listen("tcp", ":"+strconv.Itoa(int(port)))
}

// front runs the node's HTTP proxy: one l7.Server per listener port.
// A server stays for the agent's life once made (its metrics are
// registered once, labelled with its port); its listener closes when
// no service uses the port any more and opens again when one does.
// Only the controller's goroutine calls it.
type front struct {
	listen ListenFunc
	dial   DialFunc
	reg    prometheus.Registerer
	log    *slog.Logger
	opts   l7.Options // base options of every server
	wg     sync.WaitGroup
	ports  map[uint16]*httpPort
}

type httpPort struct {
	srv *l7.Server
	ln  net.Listener // nil: not listening
	cfg l7.Config
}

func newFront(listen ListenFunc, dial DialFunc, reg prometheus.Registerer, opts l7.Options, log *slog.Logger) *front {
	return &front{listen: listen, dial: dial, reg: reg, log: log, opts: opts, ports: map[uint16]*httpPort{}}
}

// Apply serves cfgs: a listener and its configuration per port. Ports
// that are not in cfgs stop listening. The error names the ports that
// could not be served; they are tried again at the next Apply.
func (f *front) Apply(cfgs map[uint16]l7.Config) error {
	var errs []error
	for _, port := range sortedPorts(cfgs) {
		cfg := cfgs[port]
		p, err := f.port(port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p.ln == nil {
			ln, err := f.listen(port)
			if err != nil {
				errs = append(errs, fmt.Errorf("ingress: HTTP port %d: %w (is another process listening on it?)", port, err))
				continue
			}
			p.ln = ln
			f.wg.Go(func() {
				if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
					f.log.Warn("HTTP listener stopped", "port", port, "err", err)
				}
			})
			f.log.Info("HTTP proxy listening", "port", port)
		}
		if !reflect.DeepEqual(cfg, p.cfg) {
			if err := p.srv.Update(cfg); err != nil {
				errs = append(errs, fmt.Errorf("ingress: HTTP port %d: %w", port, err))
				continue
			}
			p.cfg = cfg
		}
	}
	for port, p := range f.ports {
		if _, ok := cfgs[port]; ok || p.ln == nil {
			continue
		}
		p.ln.Close() // connections in progress finish on the configuration below
		p.ln = nil
		if err := p.srv.Update(l7.Config{}); err == nil {
			p.cfg = l7.Config{}
		}
		f.log.Info("HTTP proxy port closed", "port", port)
	}
	return errors.Join(errs...)
}

// port returns the server of a port, made on first use.
func (f *front) port(port uint16) (*httpPort, error) {
	if p, ok := f.ports[port]; ok {
		return p, nil
	}
	opts := f.opts
	opts.Logger = f.log.With("port", port)
	opts.Dial = f.dial
	if f.reg != nil {
		opts.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"port": strconv.Itoa(int(port))}, f.reg)
	}
	srv, err := l7.New(opts)
	if err != nil {
		return nil, fmt.Errorf("ingress: HTTP proxy for port %d: %w", port, err)
	}
	p := &httpPort{srv: srv}
	f.ports[port] = p
	return p, nil
}

// Listening lists the ports with a listener.
func (f *front) Listening() []uint16 {
	var out []uint16
	for port, p := range f.ports {
		if p.ln != nil {
			out = append(out, port)
		}
	}
	slices.Sort(out)
	return out
}

// Shutdown stops every server: connections in flight get until ctx ends
// to finish.
func (f *front) Shutdown(ctx context.Context) error {
	var errs []error
	for _, port := range sortedPorts(f.ports) {
		if err := f.ports[port].srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ingress: HTTP port %d: %w", port, err))
		}
	}
	f.wg.Wait()
	f.ports = map[uint16]*httpPort{}
	return errors.Join(errs...)
}

func sortedPorts[V any](m map[uint16]V) []uint16 {
	out := make([]uint16, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
