//go:build bench

package bench

// Scenario update's xoverlay side: the service web (3 replicas over the 3
// hosts) on an xoverlay network, a client container on h1 and xo-nginx on
// h2 (`proxy_pass http://web:8080;`: the VIP).

import (
	"fmt"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

const (
	updXoNet    = "xoupd"
	updXoSubnet = "10.196.0.0/24"
)

// updXo is the xoverlay service.
type updXo struct {
	c *harness.Cluster
}

// setupXo forms the cluster's network, service, client and nginx, and
// returns the system and where it runs.
func setupXo(t *testing.T, c *harness.Cluster, dir string) (*updXo, updPlace) {
	t.Helper()
	c.MustDocker(t, 1, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", updXoSubnet, updXoNet)
	for i := 2; i <= c.N; i++ {
		harness.Eventually(t, 20*time.Second, func() error {
			_, err := c.Docker(i, "network", "inspect", updXoNet)
			return err
		})
	}
	mustXO(t, c, 1, "service", "create", "--name", updService, "--replicas", fmt.Sprint(updReplicas),
		"--network", updXoNet, "-e", "VERSION=v1", updImageV1)
	cl := startClient(t, c, 1, "xoclient", updXoNet, dir)
	ngx := startNginx(t, c, 2, "xonginx", updXoNet, dir, ngxVIPConf(updService, updPort), cl)
	place := updPlace{
		sel:    updSel{hosts: []int{1, 2, 3}, key: "xo.service", value: updService},
		client: cl,
		nginx:  updClient{host: 2, name: "xonginx"},
		paths: []updPath{
			{name: "VIP", url: fmt.Sprintf("http://%s:%d/", updService, updPort)},
			{name: "nginx", url: "http://" + ngx + ":80/"},
		},
	}
	return &updXo{c: c}, place
}

// reset updates web back to v1, every task at once (untimed); nothing
// happens when it runs v1 already.
func (x *updXo) reset(t *testing.T) {
	t.Helper()
	mustXO(t, x.c, 1, "service", "update", "--image", updImageV1, "--env-add", "VERSION=v1",
		"--update-order", "start-first", "--update-parallelism", "0", "--update-delay", "0s",
		"--update-monitor", updMonitor.String(), updService)
}

// update is the measured rolling update to v2; xo follows it to its end.
func (x *updXo) update(t *testing.T, order string) string {
	t.Helper()
	return mustXO(t, x.c, 1, "service", "update", "--image", updImageV2, "--env-add", "VERSION=v2",
		"--update-order", order, "--update-parallelism", "1", "--update-delay", updDelay.String(),
		"--update-monitor", updMonitor.String(), updService)
}
