package vip

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// Metrics are the controller's own metrics, next to the data planes'
// (l4.Metrics: xo_lb_dataplane_info, xo_lb_rule_update_seconds, ...). A
// nil *Metrics records nothing.
type Metrics struct {
	L4     *l4.Metrics
	ns     prometheus.Gauge
	sync   prometheus.Histogram
	errors *prometheus.CounterVec
}

// NewMetrics makes the data planes' metrics and the controller's, and
// registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	base, err := l4.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	m := &Metrics{
		L4: base,
		ns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "xo_lb_namespaces",
			Help: "Container network namespaces whose service VIPs this node balances."}),
		sync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "xo_lb_sync_seconds",
			Help:    "From a commit that changes VIPs or backends to every affected namespace of this node updated (table and rules).",
			Buckets: prometheus.ExponentialBucketsRange(100e-6, 10, 16)}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "xo_lb_errors_total",
			Help: "Failures keeping the service VIPs, by operation (open, apply, reconcile, close, list, inspect, events)."}, []string{"op"}),
	}
	for _, op := range []string{"open", "apply", "reconcile", "close", "list", "inspect", "events"} {
		m.errors.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.ns, m.sync, m.errors} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("vip: metrics already registered (make one Metrics per registry): %w", err)
			}
			return nil, fmt.Errorf("vip: metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) l4() *l4.Metrics {
	if m == nil {
		return nil
	}
	return m.L4
}

func (m *Metrics) setPlane(p string) { m.l4().SetPlane(p) }

func (m *Metrics) namespaces(n int) {
	if m != nil {
		m.ns.Set(float64(n))
	}
}

func (m *Metrics) synced(d time.Duration) {
	if m != nil {
		m.sync.Observe(d.Seconds())
	}
}

func (m *Metrics) fail(op string) {
	if m != nil {
		m.errors.WithLabelValues(op).Inc()
	}
}
