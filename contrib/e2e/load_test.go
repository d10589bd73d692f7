//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
	"github.com/xoverlay/xoverlay/contrib/probe/loadreport"
)

// loadRate is each stream's requests per second.
const loadRate = "100"

// probeReport is the JSON line `probe load` prints when it stops.
type probeReport = loadreport.Report

// lockedBuffer is a bytes.Buffer a command writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// loadStream is one `probe load` running while a service is updated: in
// a container (docker exec) or in a simulated host's namespaces. It
// stops when the test creates its stop file.
type loadStream struct {
	name     string
	stopFile string // as seen by the test
	cmd      *exec.Cmd
	stdout   lockedBuffer
	stderr   lockedBuffer
	done     chan struct{}
	err      error
}

func (s *loadStream) start(t *testing.T, args ...string) {
	t.Helper()
	os.Remove(s.stopFile)
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	s.cmd.WaitDelay = 5 * time.Second
	s.done = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("load %s: %v", s.name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.stop() })
}

// answered is how many answers of version the stream had at its latest
// progress line.
func (s *loadStream) answered(version string) int {
	lines := strings.Split(strings.TrimSpace(s.stderr.String()), "\n")
	last := lines[len(lines)-1]
	for _, f := range strings.Fields(last) {
		vs, ok := strings.CutPrefix(f, "versions=")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(vs, ",") {
			if k, n, ok := strings.Cut(kv, ":"); ok && k == version {
				c, _ := strconv.Atoi(n)
				return c
			}
		}
	}
	return 0
}

// stop creates the stop file and waits for the report.
func (s *loadStream) stop() (probeReport, error) {
	var r probeReport
	if err := os.WriteFile(s.stopFile, nil, 0o644); err != nil {
		return r, fmt.Errorf("load %s: %w", s.name, err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return r, fmt.Errorf("load %s did not stop within 30 s of its stop file; progress:\n%s", s.name, s.stderr.String())
	}
	if s.err != nil {
		return r, fmt.Errorf("load %s: %v\n%s", s.name, s.err, s.stderr.String())
	}
	r, err := loadreport.Parse(s.stdout.String())
	if err != nil {
		return r, fmt.Errorf("load %s: %w", s.name, err)
	}
	return r, nil
}

// loadTargets are where the steady loads of the update tests go.
type loadTargets struct {
	c       *harness.Cluster
	hs      []*node
	stopDir string // bind-mounted at /stop in the client containers
	// vipClient and nginxClient are xo-probe containers on appnet
	// (on h1 and h3) with stopDir mounted.
	vipClient, nginxClient string
	l7Port                 int
}

// loads starts, for one step, a stream through the service VIP
// (http://web:8080/ from a container), one through the published HTTP
// port of each host (from the host itself), and one through nginx (a
// container on appnet proxying to http://web:8080).
func (lt *loadTargets) loads(t *testing.T, step string) []*loadStream {
	t.Helper()
	probeArgs := func(url, stop string) []string {
		return []string{"load", "-url", url, "-rate", loadRate, "-duration", "5m", "-timeout", "2s", "-stop-file", stop}
	}
	inContainer := func(n *node, container, name, url string) *loadStream {
		s := &loadStream{name: name, stopFile: filepath.Join(lt.stopDir, name)}
		s.start(t, append([]string{"docker", "-H", n.c.DockerHost(n.i), "exec", container, "/probe"},
			probeArgs(url, "/stop/"+name)...)...)
		return s
	}
	var ss []*loadStream
	ss = append(ss, inContainer(lt.hs[0], lt.vipClient, step+"-vip", "http://web:8080/"))
	for i := 1; i <= lt.c.N; i++ {
		name := fmt.Sprintf("%s-l7-h%d", step, i)
		s := &loadStream{name: name, stopFile: filepath.Join(lt.stopDir, name)}
		s.start(t, append([]string{"bash", lt.c.HostsScript(), "exec", strconv.Itoa(i), lt.c.Bin("probe")},
			probeArgs(fmt.Sprintf("http://%s:%d/", lt.c.HostAddr(i), lt.l7Port), s.stopFile)...)...)
		ss = append(ss, s)
	}
	ss = append(ss, inContainer(lt.hs[2], lt.nginxClient, step+"-nginx", "http://nginx:80/"))
	return ss
}

// waitAnswered waits until every stream got answers of version.
func waitAnswered(t *testing.T, ss []*loadStream, version string) {
	t.Helper()
	harness.Eventually(t, 20*time.Second, func() error {
		for _, s := range ss {
			if n := s.answered(version); n < 50 {
				return fmt.Errorf("load %s: %d answers of %s so far; progress:\n%s", s.name, n, version, s.stderr.String())
			}
		}
		return nil
	})
}

// checkLoads stops the streams and checks each: no request failed, the
// answers went through versions in order (the first answer of
// versions[0], the last of the last one, each answered), and nothing
// else answered.
func checkLoads(t *testing.T, ss []*loadStream, versions ...string) {
	t.Helper()
	reports := make([]probeReport, len(ss))
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() { reports[i], errs[i] = s.stop() })
	}
	wg.Wait()
	for i, s := range ss {
		r := reports[i]
		if errs[i] != nil {
			t.Error(errs[i])
			continue
		}
		summary := fmt.Sprintf("load %s: %d sent, %d ok, %d failed %v, versions %v, %d switches, p99 %.1f ms, max %.1f ms, %.0f req/s",
			s.name, r.Sent, r.OK, r.Failed, r.Errors, r.Versions, len(r.Switches), r.P99MS, r.MaxMS, r.Rate)
		first, last := r.FirstAndLast()
		var bad []string
		if r.Failed != 0 || r.OK == 0 {
			bad = append(bad, fmt.Sprintf("%d of %d requests failed: %v", r.Failed, r.Sent, r.Errors))
		}
		if first != versions[0] || last != versions[len(versions)-1] {
			bad = append(bad, fmt.Sprintf("first answer %s, last %s, want %s and %s", first, last, versions[0], versions[len(versions)-1]))
		}
		for v, n := range r.Versions {
			if !slices.Contains(versions, v) {
				bad = append(bad, fmt.Sprintf("%d answers of %s", n, v))
			}
		}
		for _, v := range versions {
			if r.Versions[v] == 0 {
				bad = append(bad, "no answer of "+v)
			}
		}
		if len(versions) > 1 && len(r.Switches) == 0 {
			bad = append(bad, "the answers never switched version")
		}
		if len(bad) > 0 {
			t.Errorf("%s\n    %s", summary, strings.Join(bad, "\n    "))
		} else {
			t.Log(summary)
		}
	}
}

// startLoadTargets starts nginx proxying to web, and the client
// containers of the loads, and waits until every path answers.
func startLoadTargets(t *testing.T, c *harness.Cluster, hs []*node, l7Port int) *loadTargets {
	t.Helper()
	start := time.Now()
	lt := &loadTargets{c: c, hs: hs, stopDir: filepath.Join(c.StateDir(1), "loadstop"), vipClient: "loadvip", nginxClient: "loadnginx", l7Port: l7Port}
	if err := os.MkdirAll(lt.stopDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(c.RepoRoot, "contrib/images/nginx.conf")
	hs[1].mustDocker(t, "run", "-d", "--net", "appnet", "--name", "nginx", "-v", conf+":/etc/nginx/nginx.conf:ro", "xo-nginx")
	hs[0].mustDocker(t, "run", "-d", "--net", "appnet", "--name", lt.vipClient, "-v", lt.stopDir+":/stop", "xo-probe")
	hs[2].mustDocker(t, "run", "-d", "--net", "appnet", "--name", lt.nginxClient, "-v", lt.stopDir+":/stop", "xo-probe")
	ready := func(what string, f func() (string, error)) {
		harness.Eventually(t, 30*time.Second, func() error {
			if _, err := f(); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		})
	}
	ready("web through the VIP", func() (string, error) {
		return hs[0].probe(lt.vipClient, "http", "-timeout", "2s", "http://web:8080/")
	})
	ready("web through nginx", func() (string, error) {
		out, err := hs[2].probe(lt.nginxClient, "http", "-timeout", "2s", "http://nginx:80/")
		if err != nil {
			err = fmt.Errorf("%w; nginx's log:\n%s", err, logTail(hs[1], "nginx"))
		}
		return out, err
	})
	for i := 1; i <= c.N; i++ {
		ready(fmt.Sprintf("web through h%d's HTTP port", i), func() (string, error) {
			return c.Exec(i, c.Bin("probe"), "http", "-timeout", "2s", fmt.Sprintf("http://%s:%d/", c.HostAddr(i), l7Port))
		})
	}
	t.Logf("nginx and the load clients ready, every path answers, in %s", time.Since(start).Round(time.Millisecond))
	return lt
}

// logTail is for failure messages: the last lines of a container's log.
func logTail(n *node, container string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "docker", "-H", n.c.DockerHost(n.i), "logs", "--tail", "20", container).CombinedOutput()
	return string(out)
}
