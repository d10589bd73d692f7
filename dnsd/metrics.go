package dnsd

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Label values of xo_dns_queries_total, in a fixed small set so every
// series is resolved once, in New, and a query only increments.
var (
	typeLabels  = [...]string{"A", "AAAA", "PTR", "ANY", "SRV", "other"}
	rcodeLabels = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "DROPPED", "other"}
	srcLabels   = [numSources]string{"local", "cluster", "cache", "forward"}
)

// Positions in rcodeLabels of what is not a plain rcode.
const (
	rcodeDropped = 6
	rcodeOther   = 7
)

// Results of a forwarded query, xo_dns_forwarded_total{result}.
const (
	fwdOK = iota
	fwdError
	fwdTimeout
	fwdBusy
	numFwdResults
)

var fwdLabels = [numFwdResults]string{"ok", "error", "timeout", "busy"}

type metrics struct {
	queries      [len(typeLabels)][len(rcodeLabels)]prometheus.Counter
	duration     [numSources]prometheus.Observer
	forwarded    [numFwdResults]prometheus.Counter
	cacheHits    prometheus.Counter
	cacheMisses  prometheus.Counter
	cacheEntries prometheus.Gauge
	records      prometheus.Gauge
	updates      prometheus.Counter
	incremental  prometheus.Counter
	ratelimited  prometheus.Counter
	panics       prometheus.Counter
	malformed    prometheus.Counter
}

// newMetrics makes the collectors and registers them on reg (nil: not
// registered, for tests).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xo_dns_queries_total",
		Help: "DNS queries answered, by query type and response code.",
	}, []string{"type", "rcode"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "xo_dns_query_duration_seconds",
		Help:    "Time to answer a DNS query, by where the answer came from (local, cluster, cache, forward).",
		Buckets: prometheus.ExponentialBucketsRange(10e-6, 2.56, 12),
	}, []string{"source"})
	forwarded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xo_dns_forwarded_total",
		Help: "Queries sent upstream, by result (ok, error, timeout, busy: too many in flight).",
	}, []string{"result"})
	m := &metrics{
		cacheHits:    prometheus.NewCounter(prometheus.CounterOpts{Name: "xo_dns_cache_hits_total", Help: "Forwarded names answered from the cache."}),
		cacheMisses:  prometheus.NewCounter(prometheus.CounterOpts{Name: "xo_dns_cache_misses_total", Help: "Forwarded names not in the cache."}),
		cacheEntries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "xo_dns_cache_entries", Help: "Answers in the forward cache."}),
		records:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "xo_dns_records", Help: "Names served by the current cluster index."}),
		updates:      prometheus.NewCounter(prometheus.CounterOpts{Name: "xo_dns_index_updates_total", Help: "Index updates: cluster snapshots loaded and service changes applied."}),
		incremental:  prometheus.NewCounter(prometheus.CounterOpts{Name: "xo_dns_index_incremental_updates_total", Help: "Index updates made in place from changed services; the rest of xo_dns_index_updates_total are full rebuilds."}),
		ratelimited:  prometheus.NewCounter(prometheus.CounterOpts{Name: "xo_dns_ratelimited_total", Help: "Queries refused by the per-client rate limit."}),
		panics:       prometheus.NewCounter(prometheus.CounterOpts{Name: "xo_dns_panics_total", Help: "Queries whose handling panicked (answered SERVFAIL)."}),
		malformed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "xo_dns_malformed_total", Help: "Packets that could not be parsed as DNS messages."}),
	}
	for i, t := range typeLabels {
		for j, rc := range rcodeLabels {
			m.queries[i][j] = queries.WithLabelValues(t, rc)
		}
	}
	for i, s := range srcLabels {
		m.duration[i] = duration.WithLabelValues(s)
	}
	for i, r := range fwdLabels {
		m.forwarded[i] = forwarded.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{queries, duration, forwarded, m.cacheHits, m.cacheMisses,
		m.cacheEntries, m.records, m.updates, m.incremental, m.ratelimited, m.panics, m.malformed} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("dnsd: metrics already registered (one Server per registry): %w", err)
			}
			return nil, fmt.Errorf("dnsd: metrics: %w", err)
		}
	}
	return m, nil
}

// typeIndex maps a query type to its label.
func typeIndex(t uint16) int {
	switch t {
	case dns.TypeA:
		return 0
	case dns.TypeAAAA:
		return 1
	case dns.TypePTR:
		return 2
	case dns.TypeANY:
		return 3
	case dns.TypeSRV:
		return 4
	}
	return 5
}

// rcodeIndex maps a response code to its label.
func rcodeIndex(rc int) int {
	switch rc {
	case dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError, dns.RcodeNotImplemented, dns.RcodeRefused:
		return rc
	case rcodeDrop:
		return rcodeDropped
	}
	return rcodeOther
}
