package ingress

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the controller's own, next to the data planes' (l4:
// xo_lb_rule_update_seconds, xo_lb_virtual_services{kind="published"},
// ...) and the HTTP proxy's (xo_lb_http_*{port}). A nil *metrics
// records nothing.
type metrics struct {
	ports  *prometheus.GaugeVec
	sync   prometheus.Histogram
	errors *prometheus.CounterVec
	bursts *prometheus.CounterVec
}

// Operations counted by xo_lb_mesh_errors_total.
var errorOps = []string{"sandbox", "host", "ingress", "firewall", "http", "events", "reconcile"}

// Modes of xo_lb_mesh_ports.
var portModes = []string{"ingress", "host", "http"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ports: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "xo_lb_mesh_ports",
			Help: "Published ports this node serves, by mode (ingress: routing mesh, host, http: HTTP proxy listeners)."}, []string{"mode"}),
		sync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "xo_lb_mesh_sync_seconds",
			Help:    "From a commit that changes published ports or their backends to this node's rules and proxy updated.",
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 10, 16)}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "xo_lb_mesh_errors_total",
			Help: "Failures serving published ports, by operation (sandbox: the ingress container, host, ingress: the data planes, firewall, http, events, reconcile)."},
			[]string{"op"}),
		bursts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "xo_lb_mesh_commit_bursts_total",
			Help: "Bursts of commits the controller followed, by outcome (computed: the plan was recomputed; passed_over: " +
				"no commit concerned a published port or its backends, so nothing was computed)."}, []string{"outcome"}),
	}
	for _, op := range errorOps {
		m.errors.WithLabelValues(op)
	}
	for _, o := range []string{"computed", "passed_over"} {
		m.bursts.WithLabelValues(o)
	}
	for _, mode := range portModes {
		m.ports.WithLabelValues(mode)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.ports, m.sync, m.errors, m.bursts} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("ingress: metrics already registered (one controller per registry): %w", err)
			}
			return nil, fmt.Errorf("ingress: metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) fail(op string) {
	if m != nil {
		m.errors.WithLabelValues(op).Inc()
	}
}

func (m *metrics) passedOver() {
	if m != nil {
		m.bursts.WithLabelValues("passed_over").Inc()
	}
}

func (m *metrics) computed() {
	if m != nil {
		m.bursts.WithLabelValues("computed").Inc()
	}
}

func (m *metrics) synced(d time.Duration) {
	if m != nil {
		m.sync.Observe(d.Seconds())
	}
}

func (m *metrics) setPorts(p Plan) {
	if m == nil {
		return
	}
	m.ports.WithLabelValues("ingress").Set(float64(len(p.Mesh)))
	m.ports.WithLabelValues("host").Set(float64(len(p.Host)))
	m.ports.WithLabelValues("http").Set(float64(len(p.HTTP)))
}
