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

const (
	// The bare responders and dnsmasq listen on dnsd's own address, on
	// ports of their own, so that every server's packets take the same
	// path through h1's kernel (the same device, routes and netfilter
	// hooks): the systems differ only in the process answering.
	bareAddr       = dnsAddr
	barePort       = 5300 // on dnsd's UDP server: the limit
	bareMiekgPort  = 5302 // on miekg/dns's dns.Server, for reference
	bareAnswer     = "192.0.2.1"
	dnsmasqPort    = 5301
	bareMiekgLabel = "bare responder on miekg/dns's dns.Server (the issue's limit)"
	bareUDPLabel   = "bare responder on dnsd's UDP server (handler-only limit)"
)

// direct measures, from h1's own network namespace, dnsd (h1's agent)
// against the bare responder and dnsmasq, all on h1, with one query file:
// names that exist, names that do not, and names forwarded upstream.
func (b *dnsBench) direct(t *testing.T, res *Result) string {
	c := b.c
	var exist, missing, forward []string
	var hosts strings.Builder
	for _, n := range b.appNames() {
		fq := n + "." + dnsNet + "." + dnsDomain
		exist = append(exist, n, fq)
		fmt.Fprintf(&hosts, "%s %s %s\n", b.ip[n], n, fq)
	}
	for k := 1; k <= dnsApps; k++ {
		missing = append(missing, fmt.Sprintf("nosuch%02d", k), fmt.Sprintf("nosuch%02d.%s.%s", k, dnsNet, dnsDomain))
	}
	for k := 1; k <= 2*dnsApps; k++ {
		forward = append(forward, fmt.Sprintf("f%02d.%s", k, strings.TrimSuffix(harness.UpstreamZone, ".")))
	}
	file := b.writeQueries(t, "mix.txt", DNSQueryFile("A", exist, missing, forward))
	hostsFile := filepath.Join(b.dir, "dnsmasq.hosts")
	if err := os.WriteFile(hostsFile, []byte(hosts.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	upHost, upPort, _ := strings.Cut(b.up.Addr, ":")
	procs := []*harness.Proc{
		c.StartProcess(t, 1, "dnsbare", filepath.Join(b.dir, "dnsbare"), "-listen", fmt.Sprintf("%s:%d", bareAddr, barePort),
			"-udp", "dnsd", "-answer", bareAnswer),
		c.StartProcess(t, 1, "dnsbare-miekg", filepath.Join(b.dir, "dnsbare"), "-listen", fmt.Sprintf("%s:%d", bareAddr, bareMiekgPort),
			"-udp", "miekg", "-answer", bareAnswer),
		// The same names from a hosts file; single labels and names under
		// the cluster domain that it does not know are NXDOMAIN
		// (--domain-needed, --local), anything else is forwarded to the
		// same upstream; cache and forwarding limit as dnsd's defaults.
		c.StartProcess(t, 1, "dnsmasq", "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
			"--addn-hosts="+hostsFile, "--listen-address="+bareAddr, fmt.Sprintf("--port=%d", dnsmasqPort),
			"--bind-interfaces", "--server="+upHost+"#"+upPort, "--domain-needed", "--local=/"+dnsDomain+"/",
			"--cache-size=10000", "--dns-forward-max=256", "--local-ttl=1", "--pid-file=", "--user=root",
			"--log-facility=-"),
	}
	defer func() {
		for _, p := range procs {
			p.Stop(5 * time.Second)
		}
	}()
	bare, dnsmasq := fmt.Sprintf("%s:%d", bareAddr, barePort), fmt.Sprintf("%s:%d", bareAddr, dnsmasqPort)
	bareMiekg := fmt.Sprintf("%s:%d", bareAddr, bareMiekgPort)
	harness.Eventually(t, 10*time.Second, func() error {
		for _, p := range procs {
			if p.Exited() {
				t.Fatalf("%s exited:\n%s", p.Name, p.Log())
			}
		}
		for _, s := range []string{bare, bareMiekg, dnsmasq} {
			if got := dnsQuery(t, c, 1, "", s, "app01"); strings.HasPrefix(got, "error") {
				return fmt.Errorf("%s: %s", s, got)
			}
		}
		return nil
	})
	// Behaviour (untimed): the three answer as intended.
	fwd := forward[0]
	for _, s := range []struct{ server, name, want string }{
		{dnsAddr + ":53", "app01", b.ip["app01"]}, {dnsmasq, "app01", b.ip["app01"]}, {bare, "app01", bareAnswer},
		{bareMiekg, "app01", bareAnswer},
		{dnsAddr + ":53", exist[3], b.ip["app02"]}, {dnsmasq, exist[3], b.ip["app02"]},
		{dnsAddr + ":53", missing[0], "NXDOMAIN"}, {dnsmasq, missing[0], "NXDOMAIN"},
		{dnsAddr + ":53", missing[1], "NXDOMAIN"}, {dnsmasq, missing[1], "NXDOMAIN"},
		{dnsAddr + ":53", fwd, harness.UpstreamAnswer}, {dnsmasq, fwd, harness.UpstreamAnswer},
	} {
		if got := dnsQuery(t, c, 1, "", s.server, s.name); got != s.want {
			t.Fatalf("h1: %s answers %s with %q, want %q", s.server, s.name, got, s.want)
		}
	}

	mix := map[string]float64{"NOERROR": 2.0 / 3, "NXDOMAIN": 1.0 / 3}
	systems := []dnsSystem{
		{name: "xoverlay dnsd", server: dnsAddr, port: 53, file: file, rcodes: mix, cpu: []int{b.agents[1].Pid()}},
		{name: bareUDPLabel, server: bareAddr, port: barePort, file: file,
			rcodes: map[string]float64{"NOERROR": 1}, cpu: []int{procs[0].Pid()}},
		{name: "dnsmasq (hosts file)", server: bareAddr, port: dnsmasqPort, file: file, rcodes: mix, cpu: []int{procs[2].Pid()}},
		{name: bareMiekgLabel, server: bareAddr, port: bareMiekgPort, file: file,
			rcodes: map[string]float64{"NOERROR": 1}, cpu: []int{procs[1].Pid()}},
	}
	const clients, outstanding = 8, 100
	figs, rate := b.measureDNS(t, 1, systems, clients, outstanding)
	load := fmt.Sprintf("dnsperf -c %d -q %d, %d s", clients, outstanding, dnsSeconds)
	qps, p99 := dnsRows(res, systems, figs, load, rate)
	xo, same, peer, lim := systems[0].name, systems[1].name, systems[2].name, systems[3].name
	res.Ratios = append(res.Ratios,
		NewRatio("dnsd / bare miekg/dns responder (the issue's limit), queries/s", qps[xo], qps[lim], ">=", 0.9),
		NewRatio("dnsd / dnsmasq, queries/s", qps[xo], qps[peer], ">=", 1.0),
		NewRatio(fmt.Sprintf("dnsd p99 / bare miekg/dns responder p99 at %d queries/s (medians of the rounds' p99s)", rate), p99[xo], p99[lim], "<=", 1.0),
		NewRatio(fmt.Sprintf("dnsd p99 / dnsmasq p99 at %d queries/s (medians of the rounds' p99s)", rate), p99[xo], p99[peer], "<=", 1.0),
		NewRatio("dnsd / the fixed answer on dnsd's UDP server (handler-only limit), queries/s", qps[xo], qps[same], ">=", 0.9),
		NewRatio(fmt.Sprintf("dnsd p99 / the fixed answer on dnsd's UDP server p99 at %d queries/s (medians of the rounds' p99s)", rate), p99[xo], p99[same], "", 0),
		NewRatio("fixed answer on dnsd's UDP server / dnsmasq, queries/s", qps[same], qps[peer], "", 0),
	)
	res.Notes = append(res.Notes, fmt.Sprintf("Direct: dnsperf, dnsd, the bare responder and dnsmasq all run in h1's network "+
		"namespace and share the machine's 2 CPUs, so a server's rate is also bounded by the CPU dnsperf leaves it. "+
		"All of them listen on dnsd's address (%s), each on its own port, so that their packets take the same path "+
		"through the kernel. "+
		"The bare responder (contrib/bench/dnsbare) is a miekg/dns handler that writes one fixed A record. The issue's "+
		"limit is that handler on miekg/dns's own dns.Server (a goroutine per query). A stricter limit serves it over "+
		"UDP by the same server as dnsd's (dnsd.UDPServer with dnsd's default of workers, one per CPU but one, each on a socket of its own bound "+
		"to the address with SO_REUSEPORT, reading batches with recvmmsg and answering with sendmmsg), so that dnsd and it differ only in the handler: dnsd can at best match it. dnsd answers the same mix from "+
		"its index, NXDOMAIN for unknown cluster names, and "+
		"its cache for forwarded names; dnsmasq %s answers from a hosts file with `--domain-needed --local=/%s/ "+
		"--cache-size=10000 --dns-forward-max=256`. dnsperf prints only the mean latency, so the p50/p99 come from "+
		"separate runs with `-v` (one line per answer) at a fixed rate, half the slowest system's median, the same "+
		"for all: latency under equal load rather than queueing at saturation. The p99s compared are the medians of "+
		"the rounds' own p99s (as every other figure here is a median of rounds), so that a moment of interference "+
		"from the shared machine in one round does not decide the comparison; the p99 over all rounds' answers "+
		"together is in the latency row. The CPU rows are measured in "+
		"those equal-load runs (/proc/PID/stat) and count the serving process only (for dnsd the whole agent, which "+
		"also runs raft and the engine watcher); the CPU per answer of a server depends on the rate (at lower rates "+
		"fewer packets share one wake-up), so compare it only between systems at the same rate. %s",
		dnsAddr, dnsmasqVersion(), dnsDomain, lostNote(systems, figs)))
	return fmt.Sprintf("**Direct**: from h1's namespace, dnsd on %s:53, the bare responder on dnsd's UDP server (the "+
		"handler-only limit) on %s, dnsmasq on %s and the bare responder on miekg/dns's dns.Server (the issue's limit) "+
		"on %s, with one "+
		"query file of A queries, a third each: names that exist (appNN and "+
		"appNN.%s.%s), names that do not (nosuchNN, nosuchNN.%s.%s: NXDOMAIN) and names forwarded to the upstream "+
		"(fNN.%s); %d rounds, each one %d s saturating run per system (%s; warm-up first) in rotating order, then "+
		"latency runs at a fixed rate.", dnsAddr, bare, dnsmasq, bareMiekg, dnsNet, dnsDomain, dnsNet, dnsDomain,
		strings.TrimSuffix(harness.UpstreamZone, "."), b.nRounds, dnsSeconds, load)
}

// dnsmasqVersion is the installed dnsmasq's version ("2.90").
func dnsmasqVersion() string {
	out, err := exec.Command("dnsmasq", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(first); len(f) >= 3 && f[1] == "version" {
		return f[2]
	}
	return "(version unknown)"
}
