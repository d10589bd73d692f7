//go:build bench

package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// dockerDNS is Docker's embedded resolver inside a container.
const dockerDNS = "127.0.0.11"

// inContainer measures, from inside containers on h3 through 127.0.0.11,
// names of containers on h1 and h2 with the agent's DNS fast path (the
// container is only on xoverlay networks: nftables in its namespace sends
// the queries straight to dnsd) against names of containers on h3 that
// Docker's embedded resolver answers itself (the best plain Docker does),
// asked from a container on the same network that is opted out of the
// fast path (label xo.dns-intercept=false). The same container also
// measures the old path: the embedded resolver forwarding cross-host names
// to dnsd.
func (b *dnsBench) inContainer(t *testing.T, res *Result) string {
	const host = 3
	c := b.c
	c.MustDocker(t, host, "run", "-d", "--net", dnsNet, "--name", "dockerclient", "--label", "xo.dns-intercept=false",
		"xo-probe:latest")
	c.MustDocker(t, host, "run", "-d", "--net", dnsNet, "--name", "dnsclient", "xo-probe:latest")
	fast := strings.TrimSpace(c.MustDocker(t, host, "inspect", "-f", "{{.State.Pid}}", "dnsclient"))
	plain := strings.TrimSpace(c.MustDocker(t, host, "inspect", "-f", "{{.State.Pid}}", "dockerclient"))
	var cross, local []string
	for h := 1; h <= c.N; h++ {
		if h == host {
			local = append(local, b.onHost[h]...)
		} else {
			cross = append(cross, b.onHost[h]...)
		}
	}
	crossFile := b.writeQueries(t, "cross.txt", DNSQueryFile("A", cross))
	localFile := b.writeQueries(t, "local.txt", DNSQueryFile("A", local))

	// Behaviour (untimed): dnsclient has the fast path and dockerclient
	// not (it started first, and the agent handles events in order);
	// through 127.0.0.11 both resolve every cross-host name, to the
	// container's address.
	harness.Eventually(t, 10*time.Second, func() error {
		if !hasFastPath(t, c, host, fast) {
			return fmt.Errorf("h%d: dnsclient has no DNS fast path yet", host)
		}
		return nil
	})
	if hasFastPath(t, c, host, plain) {
		t.Fatalf("h%d: dockerclient (xo.dns-intercept=false) has the DNS fast path", host)
	}
	for _, pid := range []string{fast, plain} {
		harness.Eventually(t, 30*time.Second, func() error {
			r, err := runDNSPerf(c, host, dnsperfLoad{nsPid: pid, server: dockerDNS, port: 53, file: crossFile, runs: 1, outstanding: 10})
			if err != nil {
				return err
			}
			if r.Rcodes["NOERROR"] != len(cross) {
				return fmt.Errorf("container on h%d: 127.0.0.11 answered %v for %d cross-host names", host, r.Rcodes, len(cross))
			}
			return nil
		})
		for _, n := range []string{cross[0], local[0]} {
			if got := dnsQuery(t, c, host, pid, dockerDNS+":53", n); got != b.ip[n] {
				t.Fatalf("container on h%d: 127.0.0.11 answers %s with %q, want %s", host, n, got, b.ip[n])
			}
		}
	}

	ok := map[string]float64{"NOERROR": 1}
	dockerd, agent := dockerdPid(t, c, host), b.agents[host].Pid()
	systems := []dnsSystem{
		{name: "xoverlay fast path: cross-host names via 127.0.0.11 → dnsd", nsPid: fast, server: dockerDNS, port: 53,
			file: crossFile, rcodes: ok, cpu: []int{dockerd, agent}},
		{name: "Docker embedded DNS: local names (127.0.0.11)", nsPid: plain, server: dockerDNS, port: 53, file: localFile,
			rcodes: ok, cpu: []int{dockerd}},
		{name: "without the fast path: cross-host names via 127.0.0.11, Docker forwarding to dnsd", nsPid: plain,
			server: dockerDNS, port: 53, file: crossFile, rcodes: ok, cpu: []int{dockerd, agent}},
		{name: "dnsd asked directly from the container (cross-host names)", nsPid: fast, server: dnsAddr, port: 53,
			file: crossFile, rcodes: ok, cpu: []int{agent}},
	}
	// Docker 20.10's embedded resolver has at most 100 forwarded queries
	// in flight per container and drops the others: stay below.
	const clients, outstanding = 8, 64
	figs, rate := b.measureDNS(t, host, systems, clients, outstanding)
	load := fmt.Sprintf("dnsperf -c %d -q %d, %d s", clients, outstanding, dnsSeconds)
	qps, p99 := dnsRows(res, systems, figs, load, rate)
	xo, peer, old, direct := systems[0].name, systems[1].name, systems[2].name, systems[3].name
	res.Ratios = append(res.Ratios,
		NewRatio("in a container: cross-host name via the fast path (127.0.0.11 → dnsd) / local name (Docker's own), queries/s",
			qps[xo], qps[peer], ">=", 0.8),
		NewRatio(fmt.Sprintf("in a container: cross-host p99 via the fast path / local p99 (Docker's own) at %d queries/s", rate),
			p99[xo], p99[peer], "", 0),
		NewRatio("in a container, without the fast path: cross-host name via Docker → dnsd / local name, queries/s",
			qps[old], qps[peer], "", 0),
		NewRatio("in a container: fast path / dnsd asked directly, queries/s", qps[xo], qps[direct], "", 0),
	)
	delay := fastPathDelay(t, c)
	res.Rows = append(res.Rows, Row{System: "xoverlay fast path", Metric: "in place after the container's start event " +
		"(every agent, every container started so far; p50/p99 from the histogram's buckets)", Unit: "ms",
		P50: F(r3(1000 * delay.Quantile(0.5))), P99: F(r3(1000 * delay.Quantile(0.99))), Mean: F(r3(1000 * delay.Mean())),
		Samples: int(delay.Count)})
	c.MustDocker(t, host, "rm", "-f", "dnsclient", "dockerclient")
	res.Notes = append(res.Notes, fmt.Sprintf("In a container: dnsperf runs in the client container's network namespace "+
		"(`nsenter -t PID -n`; the image is FROM scratch). dnsclient is only on %s, so the agent gave it the DNS fast "+
		"path at its start event: an nftables table in its namespace that DNATs 127.0.0.11:53 (UDP and TCP) to dnsd "+
		"(%s:53) before Docker's own rules, and masquerades the rerouted queries so that they carry the container's "+
		"address, which dnsd scopes by. dockerclient is on the same network but opted out (label "+
		"`xo.dns-intercept=false`), so Docker's embedded resolver answers it: a local name from the engine's own table "+
		"(the peer), a cross-host name after a failed lookup, by forwarding it to dnsd from the container's namespace "+
		"and relaying the answer (the old path). Docker 20.10 keeps at most 100 forwarded queries in flight per "+
		"container and drops the rest, so every system here gets at most %d outstanding queries. The last row asks dnsd "+
		"directly from dnsclient (not through 127.0.0.11), for scale. The CPU rows (measured in the equal-load runs) "+
		"count h%d's dockerd (which runs the embedded resolver) and, where dnsd answers, h%d's agent (%s). %s%s",
		dnsNet, dnsAddr, outstanding, host, host, "`xo`", cpuSplit(systems, figs), lostNote(systems, figs)))
	return fmt.Sprintf("**In a container**: from containers on h%d (network %s), %d names of containers on h1 and h2 "+
		"through 127.0.0.11 with the DNS fast path (to dnsd) and, for comparison, without it (Docker forwards them to "+
		"dnsd), versus %d names of containers on h%d through 127.0.0.11 answered by Docker's embedded DNS (the peer); %d "+
		"rounds, each one %d s saturating run per system (%s) in rotating order, then latency runs at a fixed rate.",
		host, dnsNet, len(cross), len(local), host, b.nRounds, dnsSeconds, load)
}

// hasFastPath tells whether the network namespace of process pid on host
// h holds the agent's DNS fast path (nftables table ip xo_dns).
func hasFastPath(t *testing.T, c *harness.Cluster, h int, pid string) bool {
	t.Helper()
	out, err := c.Exec(h, "nsenter", "-t", pid, "-n", "nft", "list", "table", "ip", "xo_dns")
	switch {
	case err == nil && strings.Contains(out, "dnat to "+dnsAddr+":53"):
		return true
	case err != nil && strings.Contains(err.Error()+out, "No such file or directory"):
		return false
	}
	t.Fatalf("h%d: nft list table ip xo_dns in the namespace of %s: %v\n%s", h, pid, err, out)
	return false
}

// fastPathDelay adds up every agent's xo_dns_intercept_delay_seconds:
// how long after a container's start event its fast path was in place.
func fastPathDelay(t *testing.T, c *harness.Cluster) Histogram {
	t.Helper()
	const metric = "xo_dns_intercept_delay_seconds"
	var sum Histogram
	for i := 1; i <= c.N; i++ {
		out, err := c.Exec(i, c.Bin("probe"), "http", "-n", "1", "-timeout", "5s", "http://127.0.0.1:9180/metrics")
		if err != nil {
			t.Fatalf("h%d metrics: %v", i, err)
		}
		hs, err := ParseHistograms(out, metric, "")
		if err != nil {
			t.Fatalf("h%d %s: %v", i, metric, err)
		}
		if sum, err = sum.Add(hs[""]); err != nil {
			t.Fatalf("h%d %s: %v", i, metric, err)
		}
	}
	if sum.Count == 0 {
		t.Fatalf("no agent timed a DNS fast path (%s is empty)", metric)
	}
	return sum
}
