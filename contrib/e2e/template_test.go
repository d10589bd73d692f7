//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// upstreamTemplate is the README's example: one server per backend of web.
const upstreamTemplate = `upstream web {
{{- range service "web" "appnet" }}
    server {{ .Address }}:8080;  # {{ .Name }} on {{ .Node }}
{{- else }}
    server 127.0.0.1:1 down;
{{- end }}
}
`

// nginxConf is a whole nginx configuration in dir, serving the upstream
// on 127.0.0.1:18080 inside the namespace nginx runs in.
func nginxConf(dir string) string {
	return fmt.Sprintf(`user nobody nogroup;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/nginx-access.log;
    include %[1]s/upstream.conf;
    server {
        listen 127.0.0.1:18080;
        location / {
            proxy_pass http://web;
            proxy_connect_timeout 2s;
        }
    }
}
`, dir)
}

// needNginx returns the nginx binary; without one the test is skipped, or
// fails under CI (contrib/testenv/deps.sh installs it).
func needNginx(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx missing (CI=true): run contrib/testenv/deps.sh, which installs nginx-light")
	}
	t.Skip("nginx missing: run contrib/testenv/deps.sh, which installs nginx-light")
	return ""
}

// TestTemplateNginx is issue 6's "real nginx fed by xo template follows a
// scale from 2 to 4 to 1 replicas", on 2 hosts. nginx runs in the network
// namespace of a container on appnet (on h1), from where every task is
// reachable across hosts; xo template runs on h1 and reloads it.
func TestTemplateNginx(t *testing.T) {
	nginx := needNginx(t)
	c := harness.Start(t, 2, harness.Options{})
	var hs []*node
	for i := 1; i <= 2; i++ {
		n := &node{owner: t, c: c, i: i, extra: fastHeartbeats}
		n.start(t)
		hs = append(hs, n)
	}
	h1, h2 := hs[0], hs[1]
	joinAll(t, h1, h2)
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.150.0.0/24", "appnet")
	for _, n := range hs {
		hasNetwork(t, n, "appnet", "10.150.0.0/24")
	}
	h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "edge", "xo-probe")
	h1.mustXO(t, "service", "create", "--name", "web", "--replicas", "2", "--network", "appnet", "xo-demo:v1")
	running(t, h1, "web", 2)

	dir := filepath.Join(c.StateDir(1), "template") // the same path inside h1 and here
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl, up, conf := filepath.Join(dir, "upstream.tmpl"), filepath.Join(dir, "upstream.conf"), filepath.Join(dir, "nginx.conf")
	for p, s := range map[string]string{tmpl: upstreamTemplate, conf: nginxConf(dir)} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := tmpl + ":" + up

	// A first render for nginx to start with, as a CI step would do it.
	h1.mustXO(t, "template", "--once", "--template", spec)
	if got := strings.Count(readText(t, up), "server 10.150.0."); got != 2 {
		t.Fatalf("first render has %d servers:\n%s", got, readText(t, up))
	}
	pid := h1.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", "edge")
	startNginx(t, nginx, pid, conf, dir)

	xo := filepath.Join(c.RepoRoot, "bin", "xo")
	tp := c.StartProcess(t, 1, "xo-template", xo, "--api-socket", h1.apiSocket(), "--log-level", "debug",
		"template", "--template", spec, "--wait", "100ms:1s", "--exec", nginx+" -c "+conf+" -e "+dir+"/nginx-error.log -s reload")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("upstream.conf:\n%s\nnginx-error.log (tail):\n%s", readText(t, up), lastLines(readText(t, filepath.Join(dir, "nginx-error.log")), 30))
		}
	})

	follows := func(want int) {
		t.Helper()
		running(t, h1, "web", want)
		var ips []string
		harness.Eventually(t, 30*time.Second, func() error {
			if tp.Exited() {
				t.Fatalf("xo template exited:\n%s", tp.Log())
			}
			// Containers of removed tasks may still be stopping.
			if ips = webIPs(t, hs); len(ips) != want {
				return fmt.Errorf("web containers running with addresses %v, want %d", ips, want)
			}
			got, err := answering(h1, 12)
			if err != nil {
				return err
			}
			if !slices.Equal(got, ips) {
				return fmt.Errorf("nginx reaches %v, want the tasks %v", got, ips)
			}
			return nil
		})
		t.Logf("%d replicas: nginx answers from %v", want, ips)
	}
	t.Run("2 replicas", func(t *testing.T) { follows(2) })
	t.Run("scale to 4", func(t *testing.T) {
		h1.mustXO(t, "service", "scale", "web=4")
		follows(4)
	})
	t.Run("scale to 1", func(t *testing.T) {
		h2.mustXO(t, "service", "scale", "web=1")
		follows(1)
	})
	n := strings.Count(tp.Log(), "command ran")
	if n < 2 {
		t.Errorf("nginx reloaded %d times, want one per change at least:\n%s", n, tp.Log())
	}
	t.Logf("xo template reloaded nginx %d times", n)
}

// startNginx starts nginx in the network namespace of process pid and
// stops it when the test ends.
func startNginx(t *testing.T, nginx, pid, conf, dir string) {
	t.Helper()
	errLog := filepath.Join(dir, "nginx-error.log")
	out, err := exec.Command("nsenter", "--net=/proc/"+pid+"/ns/net", nginx, "-c", conf, "-e", errLog).CombinedOutput()
	if err != nil {
		t.Fatalf("start nginx: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(nginx, "-c", conf, "-e", errLog, "-s", "stop").CombinedOutput(); err != nil {
			t.Logf("nginx -s stop: %v: %s", err, out)
		}
		// The master removes its pid file when it has stopped.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(dir, "nginx.pid")); os.IsNotExist(err) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("nginx still running 10s after nginx -s stop")
	})
}

// answering sends n requests through nginx (a new connection each) from
// the container it runs beside, and returns the backends' addresses that
// answered, sorted. Any failed request is an error.
func answering(h *node, n int) ([]string, error) {
	out, err := h.probe("edge", "http", "-n", fmt.Sprint(n), "-timeout", "3s", "http://127.0.0.1:18080/")
	if err != nil {
		return nil, fmt.Errorf("through nginx: %v: %s", err, out)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a struct {
			IP []string `json:"ip"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil || len(a.IP) != 1 {
			return nil, fmt.Errorf("answer %q: %v", line, err)
		}
		seen[a.IP[0]] = true
	}
	var ips []string
	for ip := range seen {
		ips = append(ips, ip)
	}
	slices.Sort(ips)
	return ips, nil
}

// webIPs is the appnet address of every running container of web, on
// every host, sorted.
func webIPs(t *testing.T, hs []*node) []string {
	t.Helper()
	var ips []string
	for _, h := range hs {
		for _, id := range strings.Fields(h.mustDocker(t, "ps", "-q", "--filter", "label=xo.service=web")) {
			ips = append(ips, h.containerIP(t, id, "appnet"))
		}
	}
	slices.Sort(ips)
	return ips
}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
