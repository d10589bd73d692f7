package l7

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 75 * time.Second
	DefaultClientTimeout     = 60 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultConnectTimeout    = 5 * time.Second
	DefaultBackendTimeout    = 60 * time.Second
	DefaultRetryTimeout      = 15 * time.Second
	DefaultMaxIdlePerBackend = 256
	DefaultBackendIdle       = 60 * time.Second
	DefaultRetryBodyLimit    = 64 << 10
)

// Options are a Server's settings that do not change with the
// configuration. Zero fields take the defaults.
type Options struct {
	// Addr is where Start listens (host:port). Serve takes a listener
	// instead.
	Addr string
	// Logger gets the proxy's own events (nil: discarded).
	Logger *slog.Logger
	// Registerer gets the metrics (nil: not registered).
	Registerer prometheus.Registerer

	// AccessLog gets one combined-log-like line per request; nil (the
	// default) is off. Writes are serialised.
	AccessLog io.Writer
	// AccessLogger gets one record per request instead (level Info).
	AccessLogger *slog.Logger

	// ReadHeaderTimeout bounds reading a client's request headers.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a client's keep-alive connection idle that long.
	IdleTimeout time.Duration
	// ClientTimeout bounds each wait on a client while its request body
	// is read and while its answer is written (nginx's
	// client_body_timeout and send_timeout); a client that stalls longer
	// loses its connection. HTTP/1.1 only.
	ClientTimeout time.Duration
	// MaxHeaderBytes bounds a client's request headers (431 beyond).
	MaxHeaderBytes int

	// ConnectTimeout bounds connecting to a backend (nginx's
	// proxy_connect_timeout).
	ConnectTimeout time.Duration
	// BackendTimeout bounds sending a request to a backend and waiting
	// for its answer's headers, then each wait for more of its body
	// (nginx's proxy_send_timeout and proxy_read_timeout).
	BackendTimeout time.Duration
	// RetryTimeout is the default of Upstream.RetryTimeout.
	RetryTimeout time.Duration
	// MaxIdlePerBackend bounds the keep-alive connections kept open to
	// each backend; set it to at least the number of requests a backend
	// has in flight at peak, or connections churn.
	MaxIdlePerBackend int
	// BackendIdleTimeout closes a keep-alive connection to a backend
	// that was not used for that long.
	BackendIdleTimeout time.Duration
	// Dial, when set, connects to backends instead of a net.Dialer: the
	// agent dials from the node's ingress namespace, whose address is
	// the node's own on each overlay network. Its context carries
	// ConnectTimeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RetryBodyLimit: an idempotent request's body up to this size is
	// kept so that the request can be retried on another backend after
	// it was sent; larger bodies are streamed and such a request is
	// retried only if the backend could not be reached.
	RetryBodyLimit int64

	// Now is the clock (nil: time.Now); tests set it.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&o.IdleTimeout, DefaultIdleTimeout)
	setDefault(&o.ClientTimeout, DefaultClientTimeout)
	setDefault(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&o.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&o.BackendTimeout, DefaultBackendTimeout)
	setDefault(&o.RetryTimeout, DefaultRetryTimeout)
	setDefault(&o.MaxIdlePerBackend, DefaultMaxIdlePerBackend)
	setDefault(&o.BackendIdleTimeout, DefaultBackendIdle)
	setDefault(&o.RetryBodyLimit, DefaultRetryBodyLimit)
	if o.Now == nil {
		o.Now = time.Now
	}
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

func (o *Options) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ReadHeaderTimeout", o.ReadHeaderTimeout}, {"IdleTimeout", o.IdleTimeout}, {"ClientTimeout", o.ClientTimeout},
		{"ConnectTimeout", o.ConnectTimeout}, {"BackendTimeout", o.BackendTimeout},
		{"RetryTimeout", o.RetryTimeout}, {"BackendIdleTimeout", o.BackendIdleTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: use a positive duration (0 for the default)", d.name, d.v))
		}
	}
	if o.MaxHeaderBytes < 0 || o.MaxIdlePerBackend < 0 || o.RetryBodyLimit < 0 {
		errs = append(errs, errors.New("MaxHeaderBytes, MaxIdlePerBackend and RetryBodyLimit must not be negative (0 for the default)"))
	}
	if o.AccessLog != nil && o.AccessLogger != nil {
		errs = append(errs, errors.New("set AccessLog (a line per request) or AccessLogger (a slog record per request), not both"))
	}
	return errors.Join(errs...)
}
