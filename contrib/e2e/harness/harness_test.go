//go:build e2e

package harness_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

type demoInfo struct {
	Hostname string   `json:"hostname"`
	Version  string   `json:"version"`
	IP       []string `json:"ip"`
	Remote   string   `json:"remote"`
}

func parseInfo(t *testing.T, out string) demoInfo {
	t.Helper()
	var in demoInfo
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("parsing demoapp answer %q: %v", out, err)
	}
	return in
}

func TestTwoHosts(t *testing.T) {
	c := harness.Start(t, 2, harness.Options{})

	for i := 1; i <= c.N; i++ {
		if got := c.MustExec(t, i, "hostname"); got != c.Hostname(i) {
			t.Errorf("h%d: hostname = %q, want %q", i, got, c.Hostname(i))
		}
		if name := c.MustDocker(t, i, "info", "-f", "{{.Name}}"); name != c.Hostname(i) {
			t.Errorf("h%d: docker info name = %q", i, name)
		}

		c.MustDocker(t, i, "network", "create", "-d", "bridge", "--subnet", "10.250.0.0/24", "tb")
		version := fmt.Sprintf("v%d", i)
		id := c.MustDocker(t, i, "run", "-d", "--name", "demo", "--net", "tb", "-e", "VERSION="+version, "xo-demo:v1")
		var out string
		harness.Eventually(t, 10*time.Second, func() error {
			var err error
			out, err = c.Docker(i, "exec", "demo", "/probe", "http", "http://127.0.0.1:8080/")
			return err
		})
		in := parseInfo(t, out)
		if in.Hostname != id[:12] || in.Version != version || len(in.IP) != 1 || !strings.HasPrefix(in.IP[0], "10.250.0.") {
			t.Errorf("h%d: unexpected answer %+v (container %s)", i, in, id[:12])
		}

		// A second container reaches the first by name (embedded DNS).
		c.MustDocker(t, i, "run", "-d", "--name", "client", "--net", "tb", "xo-probe:latest")
		c.MustDocker(t, i, "exec", "client", "/probe", "resolve", "demo")
		c.MustDocker(t, i, "exec", "client", "/probe", "tcp", "demo:7", "-size", "100000")
		c.MustDocker(t, i, "exec", "client", "/probe", "udp", "demo:8080")
	}

	// Underlay: a demoapp running directly on h2 (StartProcess) answers
	// from h1 and from the test process (root namespace).
	p := c.StartProcess(t, 2, "hostdemo", c.Bin("demoapp"), "-port", "18080", "-echo-port", "0", "-version", "host")
	url := fmt.Sprintf("http://%s:18080/", c.HostAddr(2))
	var out string
	harness.Eventually(t, 10*time.Second, func() error {
		var err error
		out, err = c.Exec(1, c.Bin("probe"), "http", url)
		return err
	})
	in := parseInfo(t, out)
	if in.Hostname != "h2" || in.Version != "host" || in.Remote != c.HostAddr(1)+":"+strings.Split(in.Remote, ":")[1] {
		t.Errorf("h1 -> h2 underlay: unexpected answer %+v", in)
	}

	// dockerd restart: containers stop with the engine, host processes and
	// networks survive.
	c.RestartDocker(t, 1)
	if state := c.MustDocker(t, 1, "inspect", "-f", "{{.State.Status}}", "demo"); state != "exited" {
		t.Errorf("after dockerd restart demo is %q, want exited", state)
	}
	c.MustDocker(t, 1, "start", "demo", "client")
	harness.Eventually(t, 10*time.Second, func() error {
		_, err := c.Docker(1, "exec", "client", "/probe", "http", "http://demo:8080/")
		return err
	})
	if p.Exited() {
		t.Fatalf("hostdemo exited during the dockerd restart:\n%s", p.Log())
	}

	if err := p.Kill(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitTimeout(10 * time.Second); err != nil {
		t.Errorf("hostdemo exit: %v\n%s", err, p.Log())
	}
	if !strings.Contains(p.Log(), "bye") {
		t.Errorf("hostdemo did not shut down cleanly:\n%s", p.Log())
	}
}
