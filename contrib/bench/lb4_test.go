//go:build bench

package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
	"github.com/xoverlay/xoverlay/orchestrator/api"
)

func init() { scenarioFuncs["lb4"] = benchLB4 }

const (
	lb4Net    = "lbnet"
	lb4Subnet = "10.170.0.0/16" // room for 1,000 VIPs
)

// benchLB4 is issue 6's L4 benchmark on three simulated hosts, all
// managers: a container on h3 reaching a task on h1 through the service's
// VIP (the kernel path: nftables DNAT in the client's namespace), straight
// to the task's address (the limit) and through the userspace fallback
// (iperf3 throughput, new connections per second); then the time a VIP
// change takes to reach the rules of a client namespace on another host
// with 100 and 1,000 services.
func benchLB4(t *testing.T) {
	nRounds := rounds(t, 3)
	began := time.Now()
	c := harness.Start(t, 3, harness.Options{})
	for i := 1; i <= 3; i++ {
		startAgent(t, c, i)
	}
	formCluster(t, c)
	c.MustDocker(t, 1, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", lb4Subnet, lb4Net)
	harness.Eventually(t, 10*time.Second, func() error {
		_, err := c.Docker(3, "network", "inspect", lb4Net)
		return err
	})
	res := &Result{
		Scenario: "lb4",
		Title:    "service VIPs (L4): kernel path vs straight to the task vs userspace; rule updates",
		Rounds:   nRounds,
	}
	cl := lb4Client(t, c)
	ran := []string{
		"Three simulated hosts (each its own network namespace and dockerd) running `xo agent` with its " +
			"default settings (data plane probed: nftables, this kernel has no ip_vs), one cluster of three managers, " +
			"network `" + lb4Net + "` (" + lb4Subnet + ").",
		benchL4Path(t, c, cl, nRounds, res),
		benchRuleUpdates(t, c, cl, nRounds, res),
	}
	res.Ran = strings.Join(ran, " ")
	for _, q := range res.Ratios {
		t.Logf("%s: %.3f (target %s %g, met: %v)", q.Name, q.Value, q.Op, q.Target, q.Met)
	}
	save(t, c, began, res)
}

// lb4Container is the client container on h3.
type lb4Container struct {
	pid string // its process, whose network namespace the clients enter
	ip  string
}

func lb4Client(t *testing.T, c *harness.Cluster) lb4Container {
	t.Helper()
	c.MustDocker(t, 3, "run", "-d", "--net", lb4Net, "--name", "lbclient", "xo-probe", "sleep")
	return lb4Container{
		pid: strings.TrimSpace(c.MustDocker(t, 3, "inspect", "-f", "{{.State.Pid}}", "lbclient")),
		ip: strings.TrimSpace(c.MustDocker(t, 3, "inspect", "-f",
			"{{(index .NetworkSettings.Networks \""+lb4Net+"\").IPAddress}}", "lbclient")),
	}
}

// lb4Service creates a service on h1 and returns it once its tasks run.
func lb4Service(t *testing.T, c *harness.Cluster, args ...string) api.Service {
	t.Helper()
	mustXO(t, c, 1, append([]string{"service", "create"}, args...)...)
	name := ""
	for i, a := range args {
		if a == "--name" && i+1 < len(args) {
			name = args[i+1]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := api.NewClient(apiSocket(c, 1)).Service(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.VirtualIPs) != 1 {
		t.Fatalf("service %s has VIPs %v, want one", name, svc.VirtualIPs)
	}
	return svc
}

// lb4Task returns the PID and address of a service's one running task on
// host i.
func lb4Task(t *testing.T, c *harness.Cluster, i int, service string) (pid, ip string) {
	t.Helper()
	var id string
	harness.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts, err := api.NewClient(apiSocket(c, 1)).ServiceTasks(ctx, service)
		if err != nil {
			return err
		}
		for _, tk := range ts {
			if tk.State == "running" && tk.ContainerID != "" {
				id = tk.ContainerID
				return nil
			}
		}
		return fmt.Errorf("no running task of %s yet", service)
	})
	pid = strings.TrimSpace(c.MustDocker(t, i, "inspect", "-f", "{{.State.Pid}}", id))
	ip = strings.TrimSpace(c.MustDocker(t, i, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+lb4Net+"\").IPAddress}}", id))
	return pid, ip
}
