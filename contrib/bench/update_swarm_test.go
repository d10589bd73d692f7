//go:build bench

package bench

// Scenario update's Docker Swarm side, on h3's engine alone: a one-node
// swarm, an attachable overlay network, the replicated service web in
// endpoint mode dnsrr (Swarm's VIP needs ip_vs, which this kernel lacks),
// a client container and xo-nginx resolving web through Docker's DNS.

import (
	"fmt"
	"testing"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

const (
	updSwarmHost   = 3
	updSwarmNet    = "swupd"
	updSwarmSubnet = "10.198.0.0/24"
)

// updSwarm is the swarm service.
type updSwarm struct {
	c *harness.Cluster
}

// setupSwarm makes h3's engine a one-node swarm with the service, its
// client and nginx. The swarm is left at cleanup (leave, below, leaves
// it at the end of a good run).
func setupSwarm(t *testing.T, c *harness.Cluster, dir string) (*updSwarm, updPlace) {
	t.Helper()
	h := updSwarmHost
	c.MustDocker(t, h, "swarm", "init", "--advertise-addr", c.HostAddr(h), "--data-path-port", updSwarmPort)
	s := &updSwarm{c: c}
	t.Cleanup(func() { s.leave(t) })
	c.MustDocker(t, h, "network", "create", "-d", "overlay", "--attachable", "--subnet", updSwarmSubnet, updSwarmNet)
	c.MustDocker(t, h, "service", "create", "--name", updService, "--endpoint-mode", "dnsrr",
		"--replicas", fmt.Sprint(updReplicas), "--no-resolve-image", "--network", updSwarmNet,
		"--update-delay", updDelay.String(), "--update-parallelism", "1", "--update-monitor", updMonitor.String(),
		"-e", "VERSION=v1", "--quiet", updImageV1)
	cl := startClient(t, c, h, "swclient", updSwarmNet, dir)
	ngx := startNginx(t, c, h, "swnginx", updSwarmNet, dir, ngxResolverConf(updService, updPort), cl)
	return s, updPlace{
		sel:    updSel{hosts: []int{h}, key: "com.docker.swarm.service.name", value: updService},
		client: cl,
		nginx:  updClient{host: h, name: "swnginx"},
		paths:  []updPath{{name: "nginx", url: "http://" + ngx + ":80/"}},
	}
}

// reset updates web back to v1, every task at once (untimed).
func (s *updSwarm) reset(t *testing.T) {
	t.Helper()
	s.c.MustDocker(t, updSwarmHost, "service", "update", "--image", updImageV1, "--env-add", "VERSION=v1",
		"--no-resolve-image", "--update-order", "start-first", "--update-parallelism", "0", "--update-delay", "0s",
		"--update-monitor", updMonitor.String(), "--quiet", updService)
}

// update is the measured rolling update to v2; the docker CLI follows it
// to its end.
func (s *updSwarm) update(t *testing.T, order string) string {
	t.Helper()
	return s.c.MustDocker(t, updSwarmHost, "service", "update", "--image", updImageV2, "--env-add", "VERSION=v2",
		"--no-resolve-image", "--update-order", order, "--update-parallelism", "1", "--update-delay", updDelay.String(),
		"--update-monitor", updMonitor.String(), "--quiet", updService)
}

// leave removes the service and makes the engine leave the swarm; a
// second call does nothing.
func (s *updSwarm) leave(t *testing.T) {
	t.Helper()
	if s.c == nil {
		return
	}
	h := updSwarmHost
	for _, args := range [][]string{{"rm", "-f", "swclient", "swnginx"}, {"service", "rm", updService}, {"swarm", "leave", "--force"}} {
		if out, err := s.c.Docker(h, args...); err != nil {
			t.Logf("h%d: docker %v: %v %s", h, args, err, out)
		}
	}
	s.c = nil
}
