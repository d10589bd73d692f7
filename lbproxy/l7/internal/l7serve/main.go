// Command l7serve runs the L7 proxy alone on a loopback port in front of
// given backends, for measuring it against other proxies with a load
// generator (wrk). It serves until SIGINT or SIGTERM.
//
//	l7serve -listen 127.0.0.1:18080 -backend 127.0.0.1:18081,127.0.0.1:18082
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/xoverlay/xoverlay/lbproxy/l7"
	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18080", "proxy address (host:port)")
	backends := flag.String("backend", "", "comma-separated backend addresses (host:port)")
	policy := flag.String("policy", "round_robin", "upstream policy")
	metrics := flag.String("metrics", "", "serve /metrics on this address (empty: off)")
	access := flag.Bool("access-log", false, "write the access log to stdout")
	procs := flag.Int("procs", 0, "GOMAXPROCS (0: the default)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "l7serve:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if err := run(*listen, *backends, *policy, *metrics, *access); err != nil {
		fmt.Fprintln(os.Stderr, "l7serve:", err)
		os.Exit(1) //nolint:gocritic // the profile of a failed run is of no use
	}
}

func run(listen, backends, policy, metricsAddr string, access bool) error {
	if backends == "" {
		return fmt.Errorf("-backend is required")
	}
	reg := prometheus.NewRegistry()
	opts := l7.Options{
		Addr:       listen,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registerer: reg,
	}
	if access {
		opts.AccessLog = os.Stdout
	}
	s, err := l7.New(opts)
	if err != nil {
		return err
	}
	up := l7.Upstream{Name: "bench", Policy: upstream.Policy(policy)}
	if up.Policy == upstream.Hash {
		up.HashKey = "$request_uri"
	}
	for a := range strings.SplitSeq(backends, ",") {
		up.Servers = append(up.Servers, upstream.Server{Addr: strings.TrimSpace(a)})
	}
	if err := s.Update(l7.Config{Routes: []l7.Route{{Upstream: "bench"}}, Upstreams: []l7.Upstream{up}}); err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	var ms *http.Server
	if metricsAddr != "" {
		ms = &http.Server{Addr: metricsAddr, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go ms.ListenAndServe()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ms != nil {
		ms.Shutdown(sctx)
	}
	return s.Shutdown(sctx)
}
