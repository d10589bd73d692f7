//go:build bench

package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// dockerDNS is Docker's embedded resolver inside a container.
const dockerDNS = "127.0.0.11"

// inContainer measures, from inside a container on h3, names of
// containers on h1 and h2 (Docker's embedded resolver does not know them
// and forwards them to dnsd, the engine's "dns" setting) against names of
// containers on h3 (answered by the embedded resolver itself: the best
// plain Docker does), both through 127.0.0.11.
func (b *dnsBench) inContainer(t *testing.T, res *Result) string {
	const host = 3
	c := b.c
	c.MustDocker(t, host, "run", "-d", "--net", dnsNet, "--name", "dnsclient", "xo-probe:latest")
	pid := c.MustDocker(t, host, "inspect", "-f", "{{.State.Pid}}", "dnsclient")
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

	// Behaviour (untimed): every cross-host name resolves through the
	// embedded resolver, to the container's address.
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

	ok := map[string]float64{"NOERROR": 1}
	dockerd, agent := dockerdPid(t, c, host), b.agents[host].Pid()
	systems := []dnsSystem{
		{name: "xoverlay: cross-host names via 127.0.0.11 → dnsd", nsPid: pid, server: dockerDNS, port: 53, file: crossFile,
			rcodes: ok, cpu: []int{dockerd, agent}},
		{name: "Docker embedded DNS: local names (127.0.0.11)", nsPid: pid, server: dockerDNS, port: 53, file: localFile,
			rcodes: ok, cpu: []int{dockerd}},
		{name: "dnsd asked directly from the container (cross-host names)", nsPid: pid, server: dnsAddr, port: 53, file: crossFile,
			rcodes: ok, cpu: []int{agent}},
	}
	// Docker 20.10's embedded resolver has at most 100 forwarded queries
	// in flight per container and drops the others: stay below.
	const clients, outstanding = 8, 64
	figs, rate := b.measureDNS(t, host, systems, clients, outstanding)
	load := fmt.Sprintf("dnsperf -c %d -q %d, %d s", clients, outstanding, dnsSeconds)
	qps, p99 := dnsRows(res, systems, figs, load, rate)
	xo, peer := systems[0].name, systems[1].name
	res.Ratios = append(res.Ratios,
		NewRatio("in a container: cross-host name via Docker → dnsd / local name (Docker's own), queries/s", qps[xo], qps[peer], ">=", 0.8),
		NewRatio(fmt.Sprintf("in a container: cross-host p99 / local p99 at %d queries/s", rate), p99[xo], p99[peer], "", 0),
	)
	c.MustDocker(t, host, "rm", "-f", "dnsclient")
	res.Notes = append(res.Notes, fmt.Sprintf("In a container: dnsperf runs in the client container's network namespace "+
		"(`nsenter -t PID -n`; the image is FROM scratch). A cross-host name costs Docker's embedded resolver a failed "+
		"lookup, then a forwarded query that it sends from the container's namespace to dnsd (%s) and relays back; a "+
		"local name is answered from the engine's own table. Docker 20.10 keeps at most 100 forwarded queries in flight "+
		"per container and drops the rest, so every system here gets at most %d outstanding queries. The third row "+
		"asks dnsd directly from the same container, without the embedded resolver, for scale. The CPU rows (measured in "+
		"the equal-load runs) count h%d's dockerd (which runs the embedded resolver) and, where dnsd answers, h%d's "+
		"agent (%s). %s%s",
		dnsAddr, outstanding, host, host, "`xo`", cpuSplit(systems, figs), lostNote(systems, figs)))
	return fmt.Sprintf("**In a container**: from a container on h%d (network %s), %d names of containers on h1 and h2 "+
		"through 127.0.0.11 (Docker forwards them to dnsd) versus %d names of containers on h%d through 127.0.0.11 "+
		"(Docker's embedded DNS answers them: the peer); %d rounds, each one %d s saturating run per system (%s) in "+
		"rotating order, then latency runs at a fixed rate.",
		host, dnsNet, len(cross), len(local), host, b.nRounds, dnsSeconds, load)
}
