package l4

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var planeNames = [...]string{PlaneIPVS, PlaneNFTables, PlaneUserspace}

// Metrics are the node-wide load-balancing metrics. One Metrics serves
// every DataPlane of the node (one per namespace): gauges are kept as the
// sum of what each plane reports. A nil *Metrics records nothing.
type Metrics struct {
	info     *prometheus.GaugeVec
	updates  *prometheus.HistogramVec
	services *prometheus.GaugeVec
	backends *prometheus.GaugeVec
	fixes    *prometheus.CounterVec
}

// NewMetrics makes the collectors and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_lb_dataplane_info",
			Help: "1 for the L4 data plane this node uses (ipvs, nftables or userspace), 0 for the others.",
		}, []string{"plane"}),
		updates: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xo_lb_rule_update_seconds",
			Help:    "Time to apply one change of the desired load-balancing state to a namespace.",
			Buckets: prometheus.ExponentialBucketsRange(50e-6, 5, 14),
		}, []string{"plane"}),
		services: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_lb_virtual_services",
			Help: "Frontends programmed, summed over namespaces: kind=vip (service VIPs) or published (routing mesh).",
		}, []string{"kind"}),
		backends: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_lb_backends",
			Help: "Backends behind the programmed frontends, summed over namespaces, by frontend kind.",
		}, []string{"kind"}),
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_lb_reconcile_fixes_total",
			Help: "Kernel state found drifted from the desired state and repaired by a reconcile.",
		}, []string{"plane"}),
	}
	for _, p := range planeNames {
		m.info.WithLabelValues(p)
		m.updates.WithLabelValues(p)
		m.fixes.WithLabelValues(p)
	}
	for _, k := range []string{"vip", "published"} {
		m.services.WithLabelValues(k)
		m.backends.WithLabelValues(k)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.info, m.updates, m.services, m.backends, m.fixes} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("l4: metrics already registered (make one Metrics per registry and share it): %w", err)
			}
			return nil, fmt.Errorf("l4: metrics: %w", err)
		}
	}
	return m, nil
}

// SetPlane marks plane as the data plane in use.
func (m *Metrics) SetPlane(plane string) {
	if m == nil {
		return
	}
	for _, p := range planeNames {
		v := 0.0
		if p == plane {
			v = 1
		}
		m.info.WithLabelValues(p).Set(v)
	}
}

// ObserveUpdate records the time one Apply took.
func (m *Metrics) ObserveUpdate(plane string, d time.Duration) {
	if m == nil {
		return
	}
	m.updates.WithLabelValues(plane).Observe(d.Seconds())
}

// Fixed counts n repairs made by a reconcile.
func (m *Metrics) Fixed(plane string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.fixes.WithLabelValues(plane).Add(float64(n))
}

// Gauges keeps one plane's share of the frontend and backend gauges, so
// that planes of many namespaces add up. Its zero value (or one with a
// nil Metrics) is usable.
type Gauges struct {
	m    *Metrics
	last [4]int
}

// Gauges returns the share holder of one data plane.
func (m *Metrics) Gauges() *Gauges { return &Gauges{m: m} }

// Set reports the plane's current frontends.
func (g *Gauges) Set(f Frontends) {
	vips, pubs, vipB, pubB := f.Counts()
	g.set([4]int{vips, pubs, vipB, pubB})
}

// Clear withdraws the plane's share (on Close).
func (g *Gauges) Clear() { g.set([4]int{}) }

func (g *Gauges) set(now [4]int) {
	if g == nil || g.m == nil {
		return
	}
	d := [4]float64{}
	for i := range now {
		d[i] = float64(now[i] - g.last[i])
	}
	g.last = now
	g.m.services.WithLabelValues("vip").Add(d[0])
	g.m.services.WithLabelValues("published").Add(d[1])
	g.m.backends.WithLabelValues("vip").Add(d[2])
	g.m.backends.WithLabelValues("published").Add(d[3])
}
