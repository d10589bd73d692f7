//go:build bench

package bench

// Scenario update's naive side, on h2's engine alone: 3 plain containers
// with the network alias web on a user-defined bridge network (so Docker's
// embedded DNS answers web with their addresses), xo-nginx resolving web
// through it, and the update a script would do: docker stop + docker run,
// one container after the other.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

const (
	updNaiveHost   = 2
	updNaiveNet    = "naiveupd"
	updNaiveSubnet = "10.197.0.0/24"
	updNaiveLabel  = "xo-bench.update"
)

// updNaive is the hand-run containers.
type updNaive struct {
	c     *harness.Cluster
	runs  int               // containers run so far (their names)
	live  []string          // the replicas' names, in replacement order
	addrs map[string]string // the v1 replicas' addresses, read after the reset
}

func setupNaive(t *testing.T, c *harness.Cluster, dir string) (*updNaive, updPlace) {
	t.Helper()
	h := updNaiveHost
	c.MustDocker(t, h, "network", "create", "--subnet", updNaiveSubnet, updNaiveNet)
	n := &updNaive{c: c}
	n.reset(t)
	cl := startClient(t, c, h, "naiveclient", updNaiveNet, dir)
	ngx := startNginx(t, c, h, "naivenginx", updNaiveNet, dir, ngxResolverConf(updService, updPort), cl)
	return n, updPlace{
		sel:    updSel{hosts: []int{h}, key: updNaiveLabel, value: updService},
		client: cl,
		nginx:  updClient{host: h, name: "naivenginx"},
		paths:  []updPath{{name: "nginx", url: "http://" + ngx + ":80/"}},
	}
}

// run starts one replica of version (image xo-demo:VERSION) and returns
// its name.
func (n *updNaive) run(t *testing.T, version string) string {
	t.Helper()
	n.runs++
	name := fmt.Sprintf("naive-web-%d-%s", n.runs, version)
	n.c.MustDocker(t, updNaiveHost, "run", "-d", "--name", name, "--net", updNaiveNet, "--network-alias", updService,
		"--label", updNaiveLabel+"="+updService, "-e", "VERSION="+version, "xo-demo:"+version)
	return name
}

// reset removes every replica, running or stopped, and runs 3 of v1
// (untimed).
func (n *updNaive) reset(t *testing.T) {
	t.Helper()
	ids := strings.Fields(n.c.MustDocker(t, updNaiveHost, "ps", "-aq", "--filter", "label="+updNaiveLabel+"="+updService))
	if len(ids) > 0 {
		n.c.MustDocker(t, updNaiveHost, append([]string{"rm", "-f"}, ids...)...)
	}
	n.live = n.live[:0]
	for range updReplicas {
		n.live = append(n.live, n.run(t, "v1"))
	}
	n.addrs = map[string]string{}
	for _, name := range n.live {
		n.addrs[name] = n.addr(t, name)
	}
}

// describe says where the new replicas run (after the update, untimed):
// whether they took the addresses of the old ones.
func (n *updNaive) describe(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, name := range n.live {
		parts = append(parts, fmt.Sprintf("%s at %s", name, n.addr(t, name)))
	}
	return "the new replicas: " + strings.Join(parts, ", ")
}

// update replaces each replica in turn by one of v2: docker stop, then
// docker run, with the update delay between two replacements (order has
// no meaning here: stop first is all a script can do with one name).
func (n *updNaive) update(t *testing.T, _ string) string {
	t.Helper()
	var out []string
	for i, old := range n.live {
		if i > 0 {
			time.Sleep(updDelay)
		}
		n.c.MustDocker(t, updNaiveHost, "stop", old)
		n.live[i] = n.run(t, "v2")
		out = append(out, fmt.Sprintf("docker stop %s (%s), docker run %s", old, n.addrs[old], n.live[i]))
	}
	return strings.Join(out, "\n")
}

// addr is a replica's address on the network (empty once it stopped).
func (n *updNaive) addr(t *testing.T, name string) string {
	t.Helper()
	return n.c.MustDocker(t, updNaiveHost, "inspect", "-f", `{{(index .NetworkSettings.Networks "`+updNaiveNet+`").IPAddress}}`, name)
}
