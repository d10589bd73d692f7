package agent

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof adds Go's profiler under /debug/pprof/ to the metrics
// listener (--debug-pprof): CPU and heap profiles of a running agent.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
