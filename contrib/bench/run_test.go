//go:build bench

package bench

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// runSystem is one way of networking the containers of the run scenario.
type runSystem struct {
	name    string // in the report
	network string // docker run --net
	prefix  string // address prefix the container must get ("" = none)
}

// benchRun: `docker run -d` until running, on an xoverlay network versus
// a Docker bridge network (the peer) versus no network at all (the limit),
// same image, same engine, same run; plus the agent's plugin call latencies.
func benchRun(t *testing.T) {
	const (
		perRound = 15 // containers per system per round
		warmup   = 2  // unmeasured containers per system first
		image    = "xo-demo:v1"
		label    = "xo.bench=run"
		target   = 1.2
	)
	nRounds := rounds(t, 5)
	began := time.Now()

	c := harness.Start(t, 1, harness.Options{})
	startAgent(t, c, 1)
	c.MustDocker(t, 1, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.210.0.0/24", "xonet")
	c.MustDocker(t, 1, "network", "create", "-d", "bridge", "--subnet", "10.211.0.0/24", "brnet")
	systems := []runSystem{
		{name: "xoverlay", network: "xonet", prefix: "10.210.0."},
		{name: "bridge", network: "brnet", prefix: "10.211.0."},
		{name: "none (limit)", network: "none"},
	}
	xo := systems[0].name

	// run starts one container and returns its id and the wall time of
	// `docker run -d`, which returns once the container has started.
	run := func(s runSystem) (string, time.Duration) {
		t0 := time.Now()
		id, err := c.Docker(1, "run", "-d", "--label", label, "--net", s.network, image)
		d := time.Since(t0)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		return id, d
	}
	// check confirms (untimed) that every container is running, with an
	// address from its network.
	check := func(started map[string]runSystem) {
		ids := make([]string, 0, len(started))
		for id := range started {
			ids = append(ids, id)
		}
		out := c.MustDocker(t, 1, append([]string{"inspect", "-f",
			"{{.Id}} {{.State.Running}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"}, ids...)...)
		n := 0
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			s, ok := started[f[0]]
			if !ok {
				t.Fatalf("inspect: unexpected line %q", l)
			}
			ip := ""
			if len(f) > 2 {
				ip = f[2]
			}
			if f[1] != "true" || (s.prefix == "") != (ip == "") || !strings.HasPrefix(ip, s.prefix) {
				t.Fatalf("%s container %.12s: running=%s address=%q, want running with an address in %s*", s.name, f[0], f[1], ip, s.prefix)
			}
			n++
		}
		if n != len(started) {
			t.Fatalf("inspect answered for %d of %d containers", n, len(started))
		}
	}
	clean := func() {
		ids := strings.Fields(c.MustDocker(t, 1, "ps", "-aq", "--filter", "label="+label))
		if len(ids) > 0 {
			c.MustDocker(t, 1, append([]string{"rm", "-f"}, ids...)...)
		}
	}
	mustScrape := func() map[string]Histogram {
		hs, err := scrape(c, 1)
		if err != nil {
			t.Fatalf("scraping the agent's metrics: %v", err)
		}
		return hs
	}

	started := map[string]runSystem{}
	for range warmup {
		for _, s := range systems {
			id, _ := run(s)
			started[id] = s
		}
	}
	check(started)
	clean()

	// times[system][round] are the start times in ms.
	times := map[string][][]float64{}
	plugin := map[string]Histogram{} // per method, over the measured windows
	var pluginPerContainer []float64 // per round: all plugin time / xoverlay containers
	calls := map[string]float64{}    // per method, over the measured windows
	for r := range nRounds {
		for _, s := range systems {
			times[s.name] = append(times[s.name], nil)
		}
		before := mustScrape()
		started := map[string]runSystem{}
		// Interleaved: every step runs each system once, the order rotating
		// from step to step (and round to round), so that each system comes
		// first, second and last equally often and the noise hits all.
		for j := range perRound {
			for k := range systems {
				s := systems[(r+j+k)%len(systems)]
				id, d := run(s)
				started[id] = s
				times[s.name][r] = append(times[s.name][r], ms(d))
			}
		}
		// The window between the scrapes holds only the plugin calls made
		// by these docker run commands (removal comes after).
		after := mustScrape()
		var total float64
		for _, m := range sortedKeys(after) {
			d, err := after[m].Sub(before[m])
			if err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			if d.Count == 0 {
				continue
			}
			if plugin[m], err = plugin[m].Add(d); err != nil {
				t.Fatalf("%s: %v", m, err)
			}
			calls[m] += d.Count
			total += d.Sum
		}
		pluginPerContainer = append(pluginPerContainer, total*1000/perRound)
		check(started)
		clean()
		var line []string
		for _, s := range systems {
			line = append(line, fmt.Sprintf("%s median %.0f ms p90 %.0f ms", s.name, Median(times[s.name][r]), Percentile(times[s.name][r], 0.9)))
		}
		t.Logf("round %d/%d: %s; plugin %.2f ms/container", r+1, nRounds, strings.Join(line, ", "), pluginPerContainer[r])
	}

	if n, err := pluginErrors(c, 1); err != nil || n != 0 {
		t.Fatalf("plugin calls answered with an error: %v (%v)", n, err)
	}

	// Figures.
	res := &Result{
		Scenario: "run",
		Title:    "`docker run -d` on xoverlay vs a Docker bridge network",
		Ran: fmt.Sprintf("One simulated host (its own network namespace and dockerd) running `xo agent`, with an "+
			"xoverlay network (`-d xoverlay --ipam-driver xoverlay`, 10.210.0.0/24), a Docker bridge network "+
			"(10.211.0.0/24; the peer) and `--net none` (the limit: the same container with no network). "+
			"Each round starts %d containers per system with `docker run -d --net NET %s` (the demo HTTP app), "+
			"interleaved one by one with the order rotating, and times the `docker run -d` command (it returns once "+
			"the container has started); after the round `docker inspect` confirms every container is running with "+
			"an address of its network, and the containers are removed (untimed). %d unmeasured warm-up containers per "+
			"system first. Plugin figures come from the agent's `%s` histogram, counting only the calls made "+
			"during the measured `docker run` commands.", perRound, image, warmup, pluginMetric),
		Rounds: nRounds,
	}
	median := map[string]float64{}
	p90 := map[string]float64{}
	for _, s := range systems {
		var meds, p90s []float64
		for _, ts := range times[s.name] {
			meds = append(meds, Median(ts))
			p90s = append(p90s, Percentile(ts, 0.9))
		}
		median[s.name], p90[s.name] = Median(meds), Median(p90s)
		res.Rows = append(res.Rows,
			Row{System: s.name, Metric: "`docker run -d`, median of the round", Unit: "ms",
				Median: F(r2(median[s.name])), Rounds: roundTo(meds, 100), Samples: nRounds * perRound},
			Row{System: s.name, Metric: "`docker run -d`, p90 of the round", Unit: "ms",
				Median: F(r2(p90[s.name])), Rounds: roundTo(p90s, 100), Samples: nRounds * perRound})
	}
	methods := sortedKeys(plugin)
	key := []string{"IpamDriver.RequestAddress", "NetworkDriver.CreateEndpoint", "NetworkDriver.Join"}
	sort.SliceStable(methods, func(i, j int) bool {
		pi, pj := slices.Index(key, methods[i]), slices.Index(key, methods[j])
		if pi < 0 {
			pi = len(key)
		}
		if pj < 0 {
			pj = len(key)
		}
		return pi < pj
	})
	for _, m := range key {
		if _, ok := plugin[m]; !ok {
			t.Errorf("the agent recorded no %s call during the measured runs", m)
		}
	}
	var perMethod []string
	for _, m := range methods {
		h := plugin[m]
		res.Rows = append(res.Rows, Row{System: "xoverlay agent", Metric: "plugin call " + m, Unit: "ms",
			P50: F(r4(h.Quantile(0.5) * 1000)), P99: F(r4(h.Quantile(0.99) * 1000)), Mean: F(r4(h.Mean() * 1000)), Samples: int(h.Count)})
		perMethod = append(perMethod, fmt.Sprintf("%s %.3g", m, calls[m]/float64(nRounds*perRound)))
	}
	var allPlugin float64
	for _, h := range plugin {
		allPlugin += h.Sum
	}
	res.Rows = append(res.Rows, Row{System: "xoverlay agent", Metric: "all plugin calls per container (round mean)", Unit: "ms",
		Median: F(r4(Median(pluginPerContainer))), Mean: F(r4(allPlugin * 1000 / float64(nRounds*perRound))),
		Rounds: roundTo(pluginPerContainer, 1e4), Samples: nRounds * perRound})

	none := systems[2].name
	res.Ratios = []Ratio{
		NewRatio("xoverlay / bridge, median start time", median[xo], median["bridge"], "<=", target),
		NewRatio("xoverlay / bridge, p90 start time", p90[xo], p90["bridge"], "", 0),
		NewRatio("xoverlay / none (limit), median start time", median[xo], median[none], "", 0),
		NewRatio("bridge / none (limit), median start time", median["bridge"], median[none], "", 0),
	}
	res.Notes = []string{
		fmt.Sprintf("Networking cost over the limit (difference of medians): xoverlay %+.0f ms, bridge %+.0f ms. "+
			"The xoverlay agent spends a median %.2f ms per container in plugin calls (%.1f%% of the xoverlay median "+
			"start time); the rest of xoverlay's cost over the limit is spent outside the agent's handlers (the engine's "+
			"calls to the plugin socket, its own endpoint and sandbox work).",
			median[xo]-median[none], median["bridge"]-median[none], Median(pluginPerContainer),
			100*Median(pluginPerContainer)/median[xo]),
		"Plugin calls per container: " + strings.Join(perMethod, ", ") + ".",
		fmt.Sprintf("The plugin p50/p99 are estimated from the histogram buckets (0.025 ms × 2ⁿ) by linear interpolation, as "+
			"Prometheus's `histogram_quantile` does, so they are coarse; with %d calls per method the p99 is close to "+
			"the slowest call. The means are exact (sum / count).", nRounds*perRound),
		"The timed command is the whole `docker` CLI invocation (CLI start, create, network set-up, start), the same for every system.",
	}
	for _, q := range res.Ratios {
		if q.Op == "" {
			t.Logf("%s: %.3f", q.Name, q.Value)
		} else {
			t.Logf("%s: %.3f (target %s %g, met: %v)", q.Name, q.Value, q.Op, q.Target, q.Met)
		}
	}
	if math.IsNaN(median[xo]) || math.IsNaN(median["bridge"]) {
		t.Fatal("no measurements")
	}
	save(t, c, began, res)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// r2 and r4 round to 0.01 and 0.0001 for the results file.
func r2(v float64) float64 { return math.Round(v*100) / 100 }
func r4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func roundTo(vs []float64, f float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = math.Round(v*f) / f
	}
	return out
}
