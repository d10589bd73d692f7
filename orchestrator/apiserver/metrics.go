package apiserver

import (
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_api_requests_total",
			Help: "API requests answered, by method, route and HTTP status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xo_api_request_duration_seconds",
			Help:    "Time taken to answer API requests, by method and route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}, []string{"method", "route"}),
	}
	if reg != nil {
		m.requests = register(reg, m.requests, log)
		m.duration = register(reg, m.duration, log)
	}
	return m
}

// register registers c, or reuses the collector already registered under
// the same name (a second server on the same registry). On any other
// failure the metric still counts, unexported, and a warning is logged.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, log *slog.Logger) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Warn("API metrics not registered", "err", err)
	}
	return c
}

func (m *metrics) observe(method, route string, code int, took time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(method, route).Observe(took.Seconds())
}
