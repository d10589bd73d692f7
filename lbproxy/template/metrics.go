package template

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Render results, the values of the result label of
// xo_template_renders_total.
const (
	resultChanged   = "changed"
	resultUnchanged = "unchanged"
	resultError     = "error"
)

// Metrics are the renderer's Prometheus metrics.
type Metrics struct {
	renders       *prometheus.CounterVec
	renderFailing *prometheus.GaugeVec
	execs         *prometheus.CounterVec
	execFailing   prometheus.Gauge
	execDuration  prometheus.Histogram
	watchErrors   prometheus.Counter
	updates       prometheus.Counter
}

// NewMetrics makes the metrics and registers them on reg (nil: kept but
// not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_template_renders_total",
			Help: "Template renders by output file and result: changed (file written), unchanged, error (file left as it was).",
		}, []string{"file", "result"}),
		renderFailing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xo_template_render_failing",
			Help: "1 while the last render of the output file failed (the file holds an older render), else 0.",
		}, []string{"file"}),
		execs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_template_exec_total",
			Help: "Runs of the --exec command by result: ok or error (timeouts included).",
		}, []string{"result"}),
		execFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xo_template_exec_failing",
			Help: "1 while the last run of the --exec command failed (it is retried with back-off), else 0.",
		}),
		execDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "xo_template_exec_duration_seconds",
			Help:    "Time taken by runs of the --exec command.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		watchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xo_template_watch_errors_total",
			Help: "Failed reads of the cluster state from the agent (retried with back-off).",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xo_template_state_updates_total",
			Help: "Changed cluster states received from the agent.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.renders, m.renderFailing, m.execs, m.execFailing, m.execDuration,
		m.watchErrors, m.updates} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("template metrics: %w", err)
	}
	return m, nil
}

func (m *Metrics) rendered(file, result string) {
	m.renders.WithLabelValues(file, result).Inc()
	failing := 0.0
	if result == resultError {
		failing = 1
	}
	m.renderFailing.WithLabelValues(file).Set(failing)
}

func (m *Metrics) executed(err error, seconds float64) {
	m.execDuration.Observe(seconds)
	if err != nil {
		m.execs.WithLabelValues(resultError).Inc()
		m.execFailing.Set(1)
		return
	}
	m.execs.WithLabelValues("ok").Inc()
	m.execFailing.Set(0)
}
