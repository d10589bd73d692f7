//go:build bench

package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

func init() { scenarioFuncs["l7"] = benchL7 }

// The wrk load, the same against every system.
const (
	l7Threads  = 2
	l7Conns    = 64
	l7Duration = 5 * time.Second
	l7Path     = "/healthz"
	l7Backends = 3
)

// l7System is one way from wrk to the backends.
type l7System struct {
	name  string
	addr  string // where wrk sends its load
	procs []int  // the proxy's processes (none for the limit)
}

// l7Figures are one system's per-round figures.
type l7Figures struct {
	rps, p50, p99      []float64 // req/s, ms, ms
	proxyCPU, backCPU  []float64 // µs of CPU per request
	wrkCPU, busy       []float64 // µs per request; machine busy %
	requests, failures int
}

// benchL7 is issue 6's L7 benchmark: xoverlay's L7 proxy (lbproxy/l7, run
// alone by lbproxy/l7/internal/l7serve) versus nginx and HAProxy
// configured with the same three demo-app backends, versus wrk straight to
// one backend (the limit); the same keep-alive wrk load against each,
// rounds interleaved. Loopback only, no simulated hosts.
func benchL7(t *testing.T) {
	nRounds := rounds(t, 3)
	began := time.Now()
	for _, bin := range []string{"wrk", "nginx", "haproxy"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is missing: run `BENCH=l7 bash contrib/bench/run.sh` (it installs wrk, nginx-light and haproxy)", bin)
		}
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()                           // removed after every process below has stopped
	if err := os.Chmod(dir, 0o755); err != nil { // nginx's workers run as nobody under root
		t.Fatal(err)
	}
	demo := goBuild(t, root, dir, "contrib/demoapp")
	l7serve := goBuild(t, root, dir, "lbproxy/l7/internal/l7serve")

	addrs := freePorts(t, l7Backends+3)
	backends, xoAddr, ngxAddr, hapAddr := addrs[:l7Backends], addrs[l7Backends], addrs[l7Backends+1], addrs[l7Backends+2]
	var backPids []int
	for i, a := range backends {
		_, port, _ := strings.Cut(a, ":")
		p := startL7Proc(t, dir, fmt.Sprintf("demoapp%d", i+1), demo, "-port", port, "-echo-port", "0", "-version", "l7bench")
		waitHTTP(t, p, a, l7Path)
		backPids = append(backPids, p.pid())
	}
	workers := runtime.NumCPU()
	peer := l7Peer{Dir: dir, Backends: backends, Workers: workers}

	xo := startL7Proc(t, dir, "l7serve", l7serve, "-listen", xoAddr, "-backend", strings.Join(backends, ","))
	waitHTTP(t, xo, xoAddr, l7Path)

	peer.Listen = ngxAddr
	ngxConf := filepath.Join(dir, "nginx.conf")
	if err := os.MkdirAll(filepath.Join(dir, "nginx-tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ngxConf, []byte(nginxConf(peer)), 0o644); err != nil {
		t.Fatal(err)
	}
	ngx := startL7Proc(t, dir, "nginx", "nginx", "-e", filepath.Join(dir, "nginx-error.log"), "-p", dir, "-c", ngxConf)
	waitHTTP(t, ngx, ngxAddr, l7Path)
	ngxWorkers := children(t, ngx.pid())
	if len(ngxWorkers) != workers {
		t.Fatalf("nginx has %d worker processes (worker_processes auto), want %d (one per CPU, as HAProxy's threads)", len(ngxWorkers), workers)
	}

	peer.Listen = hapAddr
	hapConf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(hapConf, []byte(haproxyConf(peer)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("haproxy", "-c", "-f", hapConf).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c rejects the configuration: %v\n%s", err, out)
	}
	hap := startL7Proc(t, dir, "haproxy", "haproxy", "-db", "-f", hapConf)
	waitHTTP(t, hap, hapAddr, l7Path)

	systems := []l7System{
		{name: "xoverlay L7 proxy", addr: xoAddr, procs: []int{xo.pid()}},
		{name: "nginx", addr: ngxAddr, procs: append([]int{ngx.pid()}, ngxWorkers...)},
		{name: "HAProxy", addr: hapAddr, procs: []int{hap.pid()}},
		{name: "one backend, no proxy (limit)", addr: backends[0]},
	}
	// Warm-up: one short unmeasured run each (pools filled, code paged in).
	for _, s := range systems {
		if _, _, err := runWrk(s.addr, time.Second); err != nil {
			t.Fatalf("%s warm-up: %v", s.name, err)
		}
	}
	figs := map[string]*l7Figures{}
	for _, s := range systems {
		figs[s.name] = &l7Figures{}
	}
	for r := range nRounds {
		var line []string
		for k := range systems {
			s := systems[(r+k)%len(systems)] // the order rotates from round to round
			f := figs[s.name]
			proxy0, back0 := cpuTimes(t, s.procs), cpuTimes(t, backPids)
			busy0, total0 := busyTicks(t)
			w, wrkCPU, err := runWrk(s.addr, l7Duration)
			if err != nil {
				t.Fatalf("round %d, %s: %v", r+1, s.name, err)
			}
			busy1, total1 := busyTicks(t)
			proxy1, back1 := cpuTimes(t, s.procs), cpuTimes(t, backPids)
			n := float64(w.Requests)
			f.rps = append(f.rps, w.RPS)
			f.p50 = append(f.p50, ms(w.P50))
			f.p99 = append(f.p99, ms(w.P99))
			f.proxyCPU = append(f.proxyCPU, (sum(proxy1)-sum(proxy0))*1e6/n)
			f.backCPU = append(f.backCPU, (sum(back1)-sum(back0))*1e6/n)
			f.wrkCPU = append(f.wrkCPU, wrkCPU.Seconds()*1e6/n)
			f.busy = append(f.busy, 100*(busy1-busy0)/(total1-total0))
			f.requests += w.Requests
			f.failures += w.Non2xx + w.Errors
			line = append(line, fmt.Sprintf("%s %.0f req/s p99 %.2f ms", s.name, w.RPS, ms(w.P99)))
		}
		t.Logf("round %d/%d: %s", r+1, nRounds, strings.Join(line, ", "))
	}
	for _, p := range []*l7Proc{xo, ngx, hap} {
		if p.exited() {
			t.Fatalf("%s exited during the benchmark:\n%s", p.name, p.output())
		}
	}

	res := &Result{
		Scenario: "l7",
		Title:    "L7 HTTP proxy: xoverlay vs nginx vs HAProxy vs straight to a backend",
		Ran: fmt.Sprintf("On loopback in the root namespace (no simulated hosts): %d demo-app backends (`contrib/demoapp`), "+
			"and in front of all of them, round robin with keep-alive connections to the backends: xoverlay's L7 proxy "+
			"(`lbproxy/l7`, run alone by `lbproxy/l7/internal/l7serve`, GOMAXPROCS %d), nginx %s (`worker_processes auto`: %d "+
			"workers; `upstream` with `keepalive 256`, HTTP/1.1 to the backends, `access_log off`) and HAProxy %s (`nbthread %d`, "+
			"`balance roundrobin`, `http-reuse always`, no logging); each proxy sets the same X-Forwarded-* headers. "+
			"The limit is wrk straight to one backend. The same load against each: wrk %s `-t%d -c%d -d%s --latency` "+
			"(keep-alive) on `GET %s`; %d rounds, the systems interleaved with the order rotating from round to round, after "+
			"a 1 s unmeasured warm-up each. Requests/s and latency percentiles are wrk's; the figures are medians of the "+
			"per-round values.", l7Backends, runtime.GOMAXPROCS(0), pkgVersion("nginx-light"), len(ngxWorkers),
			pkgVersion("haproxy"), workers, pkgVersion("wrk"), l7Threads, l7Conns, l7Duration, l7Path, nRounds),
		Rounds: nRounds,
	}
	med := func(s string, vs func(*l7Figures) []float64) float64 { return Median(vs(figs[s])) }
	for _, s := range systems {
		f := figs[s.name]
		samples := f.requests
		res.Rows = append(res.Rows,
			Row{System: s.name, Metric: "requests/s", Unit: "req/s", Median: F(math.Round(Median(f.rps))), Rounds: roundTo(f.rps, 1), Samples: samples},
			Row{System: s.name, Metric: "latency p50 (wrk)", Unit: "ms", Median: F(r4(Median(f.p50))), Rounds: roundTo(f.p50, 1e4), Samples: samples},
			Row{System: s.name, Metric: "latency p99 (wrk)", Unit: "ms", Median: F(r4(Median(f.p99))), Rounds: roundTo(f.p99, 1e4), Samples: samples})
		if len(s.procs) > 0 {
			res.Rows = append(res.Rows, Row{System: s.name, Metric: "proxy CPU per request", Unit: "µs",
				Median: F(r2(Median(f.proxyCPU))), Rounds: roundTo(f.proxyCPU, 100), Samples: samples})
		}
		res.Rows = append(res.Rows, Row{System: s.name, Metric: "backends' CPU per request", Unit: "µs",
			Median: F(r2(Median(f.backCPU))), Rounds: roundTo(f.backCPU, 100), Samples: samples})
	}
	xoN, ngN, hpN, limN := systems[0].name, systems[1].name, systems[2].name, systems[3].name
	rps := func(f *l7Figures) []float64 { return f.rps }
	p99 := func(f *l7Figures) []float64 { return f.p99 }
	pcpu := func(f *l7Figures) []float64 { return f.proxyCPU }
	res.Ratios = []Ratio{
		NewRatio("xoverlay / nginx, requests/s", med(xoN, rps), med(ngN, rps), ">=", 1.0),
		NewRatio("xoverlay / nginx, p99 latency", med(xoN, p99), med(ngN, p99), "<=", 1.0),
		NewRatio("xoverlay / HAProxy, requests/s", med(xoN, rps), med(hpN, rps), "", 0),
		NewRatio("xoverlay / HAProxy, p99 latency", med(xoN, p99), med(hpN, p99), "", 0),
		NewRatio("xoverlay / limit (one backend, no proxy), requests/s", med(xoN, rps), med(limN, rps), "", 0),
		NewRatio("xoverlay / nginx, proxy CPU per request", med(xoN, pcpu), med(ngN, pcpu), "", 0),
	}
	var busy, wrkCPU, fails []string
	for _, s := range systems {
		f := figs[s.name]
		busy = append(busy, fmt.Sprintf("%s %.0f%%", s.name, Median(f.busy)))
		wrkCPU = append(wrkCPU, fmt.Sprintf("%s %.1f µs", s.name, Median(f.wrkCPU)))
		fails = append(fails, fmt.Sprintf("%s %d of %s", s.name, f.failures, strconv.Itoa(f.requests)))
	}
	res.Notes = []string{
		fmt.Sprintf("CPU: everything shares this %d-CPU machine (wrk, the proxy and the backends, and whatever else runs on it), "+
			"so the figures are CPU-bound: a proxy's requests/s depends on how little CPU it takes from the backends and "+
			"wrk as much as on its own speed, and the limit has no proxy to pay for. The machine was busy (all CPUs, "+
			"median of the rounds): %s. wrk's own CPU per request: %s. "+
			"The CPU rows come from /proc/PID/stat (nginx: master and workers; HAProxy and xoverlay: one multi-threaded process).",
			runtime.NumCPU(), strings.Join(busy, ", "), strings.Join(wrkCPU, ", ")),
		"Failed requests (non-2xx answers and socket errors, all rounds): " + strings.Join(fails, ", ") + ".",
		"Latency percentiles are wrk's (coordinated omission not corrected: wrk sends closed-loop, each connection's next request after the answer).",
	}
	for _, q := range res.Ratios {
		if q.Op == "" {
			t.Logf("%s: %.3f", q.Name, q.Value)
		} else {
			t.Logf("%s: %.3f (target %s %g, met: %v)", q.Name, q.Value, q.Op, q.Target, q.Met)
		}
	}
	saveLocal(t, root, began, res)
	for _, s := range systems {
		if f := figs[s.name]; f.failures > 0 {
			t.Errorf("%s: %d of %d requests failed (non-2xx or socket errors); see its log in the test output", s.name, f.failures, f.requests)
		}
	}
}

// runWrk runs the scenario's wrk load against addr for d and returns its
// figures and wrk's CPU time.
func runWrk(addr string, d time.Duration) (wrkResult, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wrk", "-t"+strconv.Itoa(l7Threads), "-c"+strconv.Itoa(l7Conns),
		"-d"+strconv.Itoa(int(d/time.Second))+"s", "--latency", "http://"+addr+l7Path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, 0, fmt.Errorf("wrk against %s: %w\n%s", addr, err, out)
	}
	w, err := parseWrk(string(out))
	if err != nil {
		return w, 0, fmt.Errorf("wrk against %s: %w", addr, err)
	}
	return w, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func sum(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}
