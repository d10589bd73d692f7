//go:build bench

package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
	"github.com/xoverlay/xoverlay/orchestrator/api"
)

const (
	lb4Changes = 10 // VIP additions (and removals) measured per round
	lb4Writers = 8  // concurrent API clients creating the background services
)

// benchRuleUpdates: with 100 and then 1,000 services (each with a VIP on
// the network, no task), a service is created and removed through h1's
// API, and the time until its VIP's rule is in (and out of) the client's
// namespace on h3 is measured by reading that namespace's nftables map;
// the agent's own histograms (xo_lb_rule_update_seconds: one apply in one
// namespace; xo_lb_sync_seconds: a commit to every namespace of h3
// updated) are read on h3 around the changes.
func benchRuleUpdates(t *testing.T, c *harness.Cluster, cl lb4Container, nRounds int, res *Result) string {
	watch := lb4Watch(t, cl.pid)
	cli := api.NewClient(apiSocket(c, 1))
	created := 0
	p50s := map[int]float64{}
	for _, n := range []int{100, 1000} {
		lb4Background(t, c, created, n)
		created = n
		harness.Eventually(t, 60*time.Second, func() error {
			got, err := watch.vips()
			if err != nil {
				return err
			}
			if len(got) < n {
				return fmt.Errorf("%d VIPs in the client's namespace, want at least %d", len(got), n)
			}
			return nil
		})
		before := lb4Histograms(t, c)
		var add, del []float64
		for r := range nRounds {
			for k := range lb4Changes {
				name := fmt.Sprintf("change-%d-%d-%d", n, r, k)
				a, d := lb4Change(t, cli, watch, name)
				add, del = append(add, ms(a)), append(del, ms(d))
			}
		}
		after := lb4Histograms(t, c)
		sys := fmt.Sprintf("%d services", n)
		res.Rows = append(res.Rows,
			Row{System: sys, Metric: "VIP added: API call on h1 → rule in a client namespace on h3", Unit: "ms",
				Median: F(r2(Median(add))), P50: F(r2(Percentile(add, 0.5))), P99: F(r2(Percentile(add, 0.99))), Samples: len(add)},
			Row{System: sys, Metric: "VIP removed: API call on h1 → rule gone on h3", Unit: "ms",
				Median: F(r2(Median(del))), P50: F(r2(Percentile(del, 0.5))), P99: F(r2(Percentile(del, 0.99))), Samples: len(del)})
		for _, h := range []struct{ metric, what string }{
			{"xo_lb_rule_update_seconds", "one namespace's nftables apply (xo_lb_rule_update_seconds)"},
			{"xo_lb_sync_seconds", "commit → every namespace of h3 updated (xo_lb_sync_seconds)"},
		} {
			d, err := after[h.metric].Sub(before[h.metric])
			if err != nil {
				t.Fatalf("%s: %v", h.metric, err)
			}
			res.Rows = append(res.Rows, Row{System: sys, Metric: h.what, Unit: "ms",
				P50: F(r2(d.Quantile(0.5) * 1000)), P99: F(r2(d.Quantile(0.99) * 1000)), Mean: F(r2(d.Mean() * 1000)), Samples: int(d.Count)})
		}
		p50s[n] = Percentile(add, 0.5)
		t.Logf("%d services: VIP added p50 %.1f ms p99 %.1f ms, removed p50 %.1f ms", n,
			Percentile(add, 0.5), Percentile(add, 0.99), Percentile(del, 0.5))
	}
	res.Ratios = append(res.Ratios, NewRatio("VIP added, p50: 1,000 services / 100 services", p50s[1000], p50s[100], "", 0))
	res.Notes = append(res.Notes, fmt.Sprintf("Rule updates: the background services have a VIP each on `%s` and no task "+
		"(`--replicas 0`), created through the API by %d concurrent clients; the client namespace on h3 holds all their "+
		"rules. Each change creates a service (a VIP, no task) through h1's API and waits until its VIP is an element "+
		"of the `vipaddrs` map of table `xo-lb` in the client's namespace on h3 (read with nftables netlink every "+
		"millisecond), then removes it and waits until the element is gone: raft commit, replication to h3, the agent's "+
		"recompute of the VIP table, and the incremental nftables apply. The histograms are the agent's on h3, over the "+
		"same changes (bucket resolution).", lb4Net, lb4Writers))
	return fmt.Sprintf("Rule updates: %d VIP additions and removals per round with 100, then 1,000 services.", lb4Changes)
}

// lb4Background creates services bg-from..bg-(to-1), VIP only.
func lb4Background(t *testing.T, c *harness.Cluster, from, to int) {
	t.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := range lb4Writers {
		cl := api.NewClient(apiSocket(c, 1+w%c.N))
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= to {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cl.ServiceCreate(ctx, api.ServiceSpec{Name: fmt.Sprintf("bg-%04d", k), Image: "xo-demo:v1",
					Networks: []api.NetworkAttachment{{Target: lb4Net}}})
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					next.Store(int64(to))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// lb4Change creates a service and removes it, returning how long its VIP
// took to appear in and leave the client's namespace.
func lb4Change(t *testing.T, cli *api.Client, w *lb4Watcher, name string) (added, removed time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	svc, err := cli.ServiceCreate(ctx, api.ServiceSpec{Name: name, Image: "xo-demo:v1", Networks: []api.NetworkAttachment{{Target: lb4Net}}})
	if err != nil || len(svc.VirtualIPs) != 1 {
		t.Fatalf("create %s: %v (VIPs %v)", name, err, svc.VirtualIPs)
	}
	vip := netip.MustParseAddr(svc.VirtualIPs[0].Addr)
	added = w.until(t, vip, true, start)
	start = time.Now()
	if err := cli.ServiceRemove(ctx, name); err != nil {
		t.Fatal(err)
	}
	removed = w.until(t, vip, false, start)
	return added, removed
}

// lb4Histograms reads the agent's load-balancing histograms on h3.
func lb4Histograms(t *testing.T, c *harness.Cluster) map[string]Histogram {
	t.Helper()
	out, err := c.Exec(3, c.Bin("probe"), "http", "-n", "1", "-timeout", "5s", "http://127.0.0.1:9180/metrics")
	if err != nil {
		t.Fatal(err)
	}
	hs := map[string]Histogram{}
	for metric, key := range map[string]string{"xo_lb_rule_update_seconds": "plane", "xo_lb_sync_seconds": ""} {
		m, err := ParseHistograms(out, metric, key)
		if err != nil {
			t.Fatalf("%s: %v", metric, err)
		}
		if key == "plane" {
			hs[metric] = m["nftables"]
		} else {
			hs[metric] = m[""]
		}
	}
	return hs
}
