// Package plugins is the Docker plugin wire glue: it decodes plugin
// protocol requests and calls the driver interfaces; drivers never see HTTP.
package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/docker/go-plugins-helpers/ipam"
	"github.com/docker/go-plugins-helpers/network"
	"github.com/docker/go-plugins-helpers/sdk"
	"github.com/prometheus/client_golang/prometheus"
)

// Manifest is the activation answer: one socket serves both protocols, so
// `-d xoverlay` and `--ipam-driver xoverlay` find the same plugin.
const Manifest = `{"Implements": ["NetworkDriver", "IpamDriver"]}`

// Handler routes plugin protocol calls to the drivers.
type Handler struct {
	mux     *http.ServeMux
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
	// Log, when set, records every call answered with an error.
	Log *slog.Logger
}

// NewHandler serves nd and id; reg may be nil.
func NewHandler(nd network.Driver, id ipam.Ipam, reg prometheus.Registerer) *Handler {
	h := &Handler{
		mux: http.NewServeMux(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xo_plugin_call_duration_seconds",
			Help:    "Latency of Docker plugin calls by method.",
			Buckets: prometheus.ExponentialBuckets(0.000025, 2, 19),
		}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xo_plugin_call_errors_total",
			Help: "Docker plugin calls answered with an error, by method.",
		}, []string{"method"}),
	}
	if reg != nil {
		reg.MustRegister(h.latency, h.errors)
	}
	h.mux.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", sdk.DefaultContentTypeV1_1)
		fmt.Fprintln(w, Manifest)
	})
	registerNetwork(h, nd)
	registerIPAM(h, id)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type errorResponse struct{ Err string }

// route decodes Req, calls fn and encodes its answer or error.
func route[Req, Res any](h *Handler, path string, fn func(*Req) (Res, error)) {
	method := strings.TrimPrefix(path, "/")
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { h.latency.WithLabelValues(method).Observe(time.Since(start).Seconds()) }()
		req := new(Req)
		// Calls without arguments come with an empty body.
		if err := json.NewDecoder(r.Body).Decode(req); err != nil && !errors.Is(err, io.EOF) {
			h.errors.WithLabelValues(method).Inc()
			sdk.EncodeResponse(w, errorResponse{Err: "xoverlay: bad request body: " + err.Error()}, true)
			return
		}
		res, err := fn(req)
		if err != nil {
			h.errors.WithLabelValues(method).Inc()
			if h.Log != nil {
				// The engine shows these to its user or only logs them
				// (DeleteNetwork, ReleasePool): the agent's log keeps them too.
				h.Log.Info("plugin call answered with an error", "method", method, "err", err)
			}
			sdk.EncodeResponse(w, errorResponse{Err: err.Error()}, true)
			return
		}
		sdk.EncodeResponse(w, res, false)
	})
}

// noReply adapts a call that answers only an error.
func noReply[Req any](fn func(*Req) error) func(*Req) (struct{}, error) {
	return func(r *Req) (struct{}, error) { return struct{}{}, fn(r) }
}

// noArgs adapts a call that takes no request.
func noArgs[Res any](fn func() (Res, error)) func(*struct{}) (Res, error) {
	return func(*struct{}) (Res, error) { return fn() }
}
