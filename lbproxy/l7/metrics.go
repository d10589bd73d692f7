package l7

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's collectors. Series are per service and per
// backend of the current configuration (bounded by it): a removed
// backend's series go once it has drained, a removed service's once all
// of its backends have. The request path only touches children cached
// in its service and backend.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	active    *prometheus.GaugeVec
	backendUp *prometheus.GaugeVec
	updates   prometheus.Counter
	unrouted  *codeCounters
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_lb_http_requests_total",
			Help: "HTTP requests by service (empty: no route matched, or refused as malformed), backend that answered (empty: the proxy answered itself) and status code.",
		}, []string{"service", "backend", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xo_lb_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer (to the 101 of an upgrade), by service.",
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 10, 16),
		}, []string{"service"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_lb_http_retries_total",
			Help: "Requests passed to another backend after a failed try, by service.",
		}, []string{"service"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_lb_http_active_connections",
			Help: "Backend connections in use (requests in flight and upgraded tunnels), by service.",
		}, []string{"service"}),
		backendUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_lb_http_backend_up",
			Help: "Passive health of a backend: 0 after max_fails failures within fail_timeout until a request to it succeeds again.",
		}, []string{"service", "backend"}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xo_lb_http_config_updates_total",
			Help: "Configurations applied by Update.",
		}),
	}
	m.unrouted = newCodeCounters(m.requests, "", "")
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.retries, m.active, m.backendUp, m.updates} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("l7: metrics already registered (one proxy per registry): %w", err)
			}
			return nil, fmt.Errorf("l7: metrics: %w", err)
		}
	}
	return m, nil
}

// codeCounters caches the xo_lb_http_requests_total children of one
// service and backend by status code, made on first use.
type codeCounters struct {
	vec              *prometheus.CounterVec
	service, backend string
	byCode           [600]atomic.Pointer[prometheus.Counter]
}

func newCodeCounters(vec *prometheus.CounterVec, service, backend string) *codeCounters {
	return &codeCounters{vec: vec, service: service, backend: backend}
}

func (cc *codeCounters) inc(code int) {
	if code < 0 || code >= len(cc.byCode) {
		cc.vec.WithLabelValues(cc.service, cc.backend, strconv.Itoa(code)).Inc()
		return
	}
	p := cc.byCode[code].Load()
	if p == nil {
		c := cc.vec.WithLabelValues(cc.service, cc.backend, strconv.Itoa(code))
		p = &c
		cc.byCode[code].Store(p)
	}
	(*p).Inc()
}

// serviceMetrics are one upstream's children, shared by every
// configuration that has the upstream. refs counts the live backends
// plus one while the service is configured (guarded by Server.mu); at 0
// its series are deleted.
type serviceMetrics struct {
	name     string
	duration prometheus.Observer
	retries  prometheus.Counter
	active   prometheus.Gauge
	local    *codeCounters // answers made by the proxy (backend "")

	refs       int
	configured bool
}

func (m *metrics) service(name string) *serviceMetrics {
	return &serviceMetrics{
		name:     name,
		duration: m.duration.WithLabelValues(name),
		retries:  m.retries.WithLabelValues(name),
		active:   m.active.WithLabelValues(name),
		local:    newCodeCounters(m.requests, name, ""),
	}
}

func (m *metrics) deleteService(name string) {
	m.duration.DeleteLabelValues(name)
	m.retries.DeleteLabelValues(name)
	m.active.DeleteLabelValues(name)
	m.requests.DeletePartialMatch(prometheus.Labels{"service": name})
	m.backendUp.DeletePartialMatch(prometheus.Labels{"service": name})
}

func (m *metrics) deleteBackend(service, addr string) {
	m.requests.DeletePartialMatch(prometheus.Labels{"service": service, "backend": addr})
	m.backendUp.DeleteLabelValues(service, addr)
}
