//go:build bench

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

func init() { scenarioFuncs["dns"] = benchDNS }

const (
	dnsNet     = "xodns"
	dnsSubnet  = "10.180.0.0/24"
	dnsApps    = 30 // named containers app01..app30, spread over h1..h3
	dnsAddr    = "169.254.53.53"
	dnsDomain  = "xo" // the agent's --dns-domain default
	dnsSeconds = 5    // one throughput run
	dnsLatSecs = 3    // one latency run
)

// dnsBench is what the three parts of the scenario share.
type dnsBench struct {
	c       *harness.Cluster
	up      *harness.Upstream
	dir     string           // files the hosts read: query files, hosts file, dnsbare
	onHost  map[int][]string // host -> names of the app containers it runs
	ip      map[string]string
	agents  []*harness.Proc // by host (index 0 unused)
	nRounds int
}

// benchDNS is issue 4's discovery DNS (dnsd, in every agent) on three
// simulated hosts: dnsd queried directly versus a bare miekg/dns
// responder (the limit; the same fixed answer on dnsd's own UDP
// server is a stricter one) and dnsmasq (the peer); a cross-host name asked
// from inside a container through Docker's embedded resolver (which
// forwards it to dnsd) versus a local name the embedded resolver answers
// itself; and how fast a restarted container's record changes on every
// host.
func benchDNS(t *testing.T) {
	nRounds := rounds(t, 5) // more than the minimum: the 2 CPUs are shared and noisy
	began, loadStart := time.Now(), loadAvg()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "dnsbare"), "./contrib/bench/dnsbare")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building dnsbare: %v\n%s", err, out)
	}

	c := harness.Start(t, 3, harness.Options{})
	for _, cmd := range []string{"dnsperf", "dnsmasq"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Fatalf("%s is missing (contrib/bench/run.sh installs it): %v", cmd, err)
		}
	}
	up := c.Upstream
	b := &dnsBench{c: c, up: up, dir: dir, onHost: map[int][]string{}, ip: map[string]string{}, nRounds: nRounds,
		agents: make([]*harness.Proc, c.N+1)}
	for i := 1; i <= c.N; i++ {
		b.agents[i] = startAgent(t, c, i)
	}
	formCluster(t, c)
	b.startApps(t)

	res := &Result{
		Scenario: "dns",
		Title:    "discovery DNS: dnsd vs a bare responder and dnsmasq, in containers vs Docker's DNS, convergence",
		Rounds:   nRounds,
	}
	var ran []string
	ran = append(ran, b.direct(t, res))
	ran = append(ran, b.inContainer(t, res))
	ran = append(ran, b.convergence(t, res))
	res.Ran = fmt.Sprintf("Three simulated hosts (each its own network namespace and dockerd 20.10 with `\"dns\": [\"%s\"]`, "+
		"on one underlay bridge, 198.18.0.11-13), each running `xo agent --dns-upstream %s` (a fake resolver in the "+
		"benchmark process on the underlay gateway: every name under `%s` is A %s) with its other DNS settings at "+
		"their defaults, formed into one cluster of three managers; one xoverlay network %s (%s) with %d named "+
		"containers app01..app%02d (xo-probe, round-robin over h1..h3). The load generator is dnsperf %s. ",
		dnsAddr, "198.18.0.1:PORT", harness.UpstreamZone, harness.UpstreamAnswer, dnsNet, dnsSubnet, dnsApps, dnsApps,
		dnsperfVersion()) + strings.Join(ran, " ")
	res.Notes = append(res.Notes, fmt.Sprintf("The fake upstream received %d queries in the whole run (forwarded names "+
		"are cached by dnsd and dnsmasq after the first query). Load average of the machine (1, 5, 15 min) at the "+
		"start: %s; at the end: %s (other work on this shared machine shows there).", up.Queries(), loadStart, loadAvg()))
	for _, q := range res.Ratios {
		if q.Op == "" {
			t.Logf("%s: %.3f", q.Name, q.Value)
		} else {
			t.Logf("%s: %.3f (target %s %g, met: %v)", q.Name, q.Value, q.Op, q.Target, q.Met)
		}
	}
	save(t, c, began, res)
}

// startApps creates the network and the named containers, and waits
// until every agent's dnsd answers every name.
func (b *dnsBench) startApps(t *testing.T) {
	c := b.c
	c.MustDocker(t, 1, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", dnsSubnet, dnsNet)
	for i := 2; i <= c.N; i++ {
		harness.Eventually(t, 20*time.Second, func() error {
			_, err := c.Docker(i, "network", "inspect", dnsNet)
			return err
		})
	}
	for k := 1; k <= dnsApps; k++ {
		name, h := fmt.Sprintf("app%02d", k), (k-1)%c.N+1
		c.MustDocker(t, h, "run", "-d", "--net", dnsNet, "--name", name, "xo-probe:latest")
		b.onHost[h] = append(b.onHost[h], name)
		b.ip[name] = containerIP(t, c, h, name)
	}
	names := b.appNames()
	file := b.writeQueries(t, "apps.txt", DNSQueryFile("A", names))
	for i := 1; i <= c.N; i++ {
		harness.Eventually(t, 30*time.Second, func() error {
			r, err := runDNSPerf(c, i, dnsperfLoad{server: dnsAddr, port: 53, file: file, runs: 1, outstanding: 10})
			if err != nil {
				return err
			}
			if r.Rcodes["NOERROR"] != len(names) {
				return fmt.Errorf("h%d: dnsd answered %v for the %d app names", i, r.Rcodes, len(names))
			}
			return nil
		})
	}
	// The answers are the containers' addresses.
	for _, name := range []string{names[0], names[1], names[2]} {
		for i := 1; i <= c.N; i++ {
			if got := dnsQuery(t, c, i, "", dnsAddr+":53", name); got != b.ip[name] {
				t.Fatalf("h%d: dnsd answers %s with %q, want %s", i, name, got, b.ip[name])
			}
		}
	}
}

func (b *dnsBench) appNames() []string {
	var ns []string
	for k := 1; k <= dnsApps; k++ {
		ns = append(ns, fmt.Sprintf("app%02d", k))
	}
	return ns
}

// writeQueries writes a dnsperf input file into b.dir and returns its path.
func (b *dnsBench) writeQueries(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func containerIP(t *testing.T, c *harness.Cluster, h int, name string) string {
	t.Helper()
	ip := c.MustDocker(t, h, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+dnsNet+"\").IPAddress}}", name)
	if !strings.HasPrefix(ip, "10.180.0.") {
		t.Fatalf("h%d: container %s has address %q on %s", h, name, ip, dnsNet)
	}
	return ip
}

// dnsQuery asks server for name's A record once, from host h's network
// namespace (or from that of process nsPid), and returns the answer as
// `probe dnswatch` prints it: the addresses or the rcode.
func dnsQuery(t *testing.T, c *harness.Cluster, h int, nsPid, server, name string) string {
	t.Helper()
	var args []string
	if nsPid != "" {
		args = append(args, "nsenter", "-t", nsPid, "-n")
	}
	args = append(args, c.Bin("probe"), "dnswatch", name, "-server", server, "-n", "1", "-timeout", "2s")
	out, err := c.Exec(h, args...)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("h%d: probe dnswatch %s at %s printed %q", h, name, server, out)
	}
	return strings.Join(f[1:], " ")
}

// loadAvg is the machine's load average over 1, 5 and 15 minutes.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}
