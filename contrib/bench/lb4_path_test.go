//go:build bench

package bench

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/userspace"
)

const (
	lb4IperfPort = 5201
	lb4HTTPPort  = 8080
	lb4Conns     = 1500 // HTTP requests per connection-rate run, one connection each
	// lb4UserspaceVIP is the address the userspace fallback serves in the
	// client's namespace: outside every network, so only that plane
	// answers it.
	lb4UserspaceVIP = "10.171.255.1"
)

// benchL4Path: one service task on h1 serves iperf3 and the demo app;
// the client container on h3 reaches it three ways, interleaved: the
// task's own address (the limit), the service's VIP (nftables DNAT in the
// client's namespace, programmed by the agent), and the userspace
// fallback (lbproxy/l4/userspace in the client's namespace, the plane
// an agent uses where nftables is refused).
func benchL4Path(t *testing.T, c *harness.Cluster, cl lb4Container, nRounds int, res *Result) string {
	const target = 0.95
	svc := lb4Service(t, c, "--name", "iperf", "--network", lb4Net, "--constraint", "node.hostname==h1", "xo-demo:v1")
	vip := svc.VirtualIPs[0].Addr
	srvPid, srvIP := lb4Task(t, c, 1, "iperf")
	server := c.StartProcess(t, 1, "iperf3-task", "nsenter", "-t", srvPid, "-n", "iperf3", "-s", "-p", strconv.Itoa(lb4IperfPort))
	defer server.Stop(5 * time.Second)

	us, err := userspace.New("/proc/"+cl.pid+"/ns/net", userspace.Options{})
	if err != nil {
		t.Fatalf("userspace plane in the client's namespace: %v", err)
	}
	defer us.Close()
	task := netip.MustParseAddr(srvIP)
	usVIP := netip.MustParseAddr(lb4UserspaceVIP)
	if err := us.Apply(context.Background(), l4.Desired{Services: []l4.Service{
		{VIP: usVIP, Backends: []netip.AddrPort{netip.AddrPortFrom(task, 0)},
			KnownPorts: []l4.PortProto{{Port: lb4IperfPort, Proto: l4.TCP}, {Port: lb4HTTPPort, Proto: l4.TCP}}},
	}}); err != nil {
		t.Fatalf("userspace plane: %v", err)
	}

	type system struct{ name, addr string }
	systems := []system{
		{"direct (container h3 → task h1)", srvIP},
		{"kernel VIP (nftables)", vip},
		{"userspace fallback", lb4UserspaceVIP},
	}
	for _, s := range systems { // warm-up, unmeasured: the paths work
		harness.Eventually(t, 20*time.Second, func() error {
			if _, err := iperfClient(c, 3, cl.pid, s.addr, lb4IperfPort, 1); err != nil {
				return err
			}
			_, err := lb4ConnRate(c, cl, s.addr, 50)
			return err
		})
	}
	gbps := map[string][]float64{}
	cps := map[string][]float64{}
	for r := range nRounds {
		var line []string
		for k := range systems {
			s := systems[(r+k)%len(systems)]
			ir, err := iperfClient(c, 3, cl.pid, s.addr, lb4IperfPort, iperfSeconds)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			rate, err := lb4ConnRate(c, cl, s.addr, lb4Conns)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			g := ir.End.SumReceived.BitsPerSecond / 1e9
			gbps[s.name] = append(gbps[s.name], g)
			cps[s.name] = append(cps[s.name], rate)
			line = append(line, fmt.Sprintf("%s %.2f Gbit/s %.0f conn/s", s.name, g, rate))
		}
		t.Logf("L4 round %d/%d: %s", r+1, nRounds, strings.Join(line, ", "))
	}
	med := func(m map[string][]float64, s system) float64 { return Median(m[s.name]) }
	for _, s := range systems {
		res.Rows = append(res.Rows, Row{System: s.name, Metric: fmt.Sprintf("TCP throughput, 1 stream, %d s (iperf3 received)", iperfSeconds),
			Unit: "Gbit/s", Median: F(r2(med(gbps, s))), Rounds: roundTo(gbps[s.name], 100), Samples: nRounds})
	}
	for _, s := range systems {
		res.Rows = append(res.Rows, Row{System: s.name, Metric: fmt.Sprintf("new connections per second (%d HTTP requests, one connection each)", lb4Conns),
			Unit: "conn/s", Median: F(float64(int(med(cps, s)))), Rounds: roundTo(cps[s.name], 1), Samples: nRounds})
	}
	direct, kernel, user := systems[0], systems[1], systems[2]
	res.Ratios = append(res.Ratios,
		NewRatio("kernel VIP / direct, TCP throughput", med(gbps, kernel), med(gbps, direct), ">=", target),
		NewRatio("kernel VIP / direct, new connections per second", med(cps, kernel), med(cps, direct), ">=", target),
		NewRatio("userspace / direct, TCP throughput", med(gbps, user), med(gbps, direct), "", 0),
		NewRatio("userspace / direct, new connections per second", med(cps, user), med(cps, direct), "", 0),
	)
	res.Notes = append(res.Notes, fmt.Sprintf("L4 path: client container on h3, the service's one task on h1 (cross-host, "+
		"over VXLAN); iperf3 runs in both containers' network namespaces (`nsenter -t PID -n`, the images are FROM scratch), "+
		"one TCP stream for %d s; new connections per second are `probe http -n %d` (Go's HTTP client, keep-alive off: one "+
		"TCP connection per request) against the demo app in the task, run in the client's namespace. The kernel VIP is the "+
		"agent's own rule (nftables DNAT to the task's address, first packet only; conntrack does the rest). The userspace "+
		"fallback is the same library the agent runs where nftables is refused (`--lb-dataplane userspace`), opened by the "+
		"benchmark in the client's namespace on an address of its own, serving the two ports. Everything shares the "+
		"machine's 2 CPUs.", iperfSeconds, lb4Conns))
	return fmt.Sprintf("L4 path: %d rounds, the three systems interleaved (order rotating), each an iperf3 run then a "+
		"connection-rate run.", nRounds)
}

// lb4ConnRate makes n HTTP requests, a new connection each, from the
// client's namespace to addr:8080 and returns the requests per second.
func lb4ConnRate(c *harness.Cluster, cl lb4Container, addr string, n int) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := c.ExecContext(ctx, 3, "nsenter", "-t", cl.pid, "-n", c.Bin("probe"), "http", "-n", strconv.Itoa(n),
		"-timeout", "3s", fmt.Sprintf("http://%s:%d/", addr, lb4HTTPPort))
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("probe http to %s: %v: %.300s", addr, err, out)
	}
	answers := strings.Split(strings.TrimSpace(out), "\n")
	for _, a := range answers {
		if strings.HasPrefix(a, "error:") {
			return 0, fmt.Errorf("probe http to %s: %s", addr, a)
		}
	}
	if len(answers) != n {
		return 0, fmt.Errorf("probe http to %s: %d answers of %d", addr, len(answers), n)
	}
	return float64(n) / took.Seconds(), nil
}
