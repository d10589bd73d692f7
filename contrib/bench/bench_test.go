//go:build bench

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// scenarioFuncs maps every name in Scenarios to the function measuring it.
var scenarioFuncs = map[string]func(t *testing.T){
	"run": benchRun,
}

// TestBench runs the scenarios one after the other (each starts its own
// simulated hosts; only one set can exist at a time), as subtests
// TestBench/<name>. Each writes results/<name>.json. Run through
// contrib/bench/run.sh (make bench).
func TestBench(t *testing.T) {
	for name := range scenarioFuncs {
		if !slices.ContainsFunc(Scenarios, func(s Scenario) bool { return s.Name == name }) {
			t.Errorf("scenario function %q is not listed in Scenarios", name)
		}
	}
	for _, s := range Scenarios {
		fn := scenarioFuncs[s.Name]
		if fn == nil {
			t.Errorf("scenario %q has no function in scenarioFuncs", s.Name)
			continue
		}
		t.Run(s.Name, fn)
	}
}

// resultsDir is contrib/bench/results in the repository.
func resultsDir(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "contrib", "bench", "results")
}

// save completes r (date, revision, machine, duration) and writes it.
func save(t *testing.T, c *harness.Cluster, began time.Time, r *Result) {
	t.Helper()
	r.Date = time.Now().UTC().Format(time.RFC3339)
	r.DurationSeconds = time.Since(began).Round(100 * time.Millisecond).Seconds()
	r.Machine = machine(c)
	if out, err := exec.Command("git", "-C", c.RepoRoot, "describe", "--always", "--dirty").Output(); err == nil {
		r.Revision = strings.TrimSpace(string(out))
	}
	dir := resultsDir(t)
	if err := Write(dir, r); err != nil {
		t.Fatalf("writing results: %v", err)
	}
	t.Logf("wrote %s", filepath.Join(dir, r.Scenario+".json"))
}

func machine(c *harness.Cluster) Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.Join(strings.Fields(v), " ")
				break
			}
		}
	}
	if v, err := c.Docker(1, "version", "-f", "{{.Server.Version}}"); err == nil {
		m.Docker = v
	}
	return m
}

// rounds is the number of measured rounds: def, or BENCH_ROUNDS (at
// least 3, the minimum the report's medians need).
func rounds(t *testing.T, def int) int {
	t.Helper()
	s := os.Getenv("BENCH_ROUNDS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 3 || n > 50 {
		t.Fatalf("BENCH_ROUNDS=%q: want 3..50", s)
	}
	return n
}

// startAgent starts `xo agent` inside host i (as the e2e tests do, with
// the default log level and reconcile interval of a real deployment, plus
// the flags in extra) and waits for its API, its plugin socket and its
// metrics.
func startAgent(t *testing.T, c *harness.Cluster, i int, extra ...string) *harness.Proc {
	t.Helper()
	xo := filepath.Join(c.RepoRoot, "bin", "xo")
	if _, err := os.Stat(xo); err != nil {
		t.Fatalf("%v (run make build)", err)
	}
	api := filepath.Join(c.StateDir(i), "xo.sock")
	args := append([]string{xo, "agent",
		"--state-dir", filepath.Join(c.StateDir(i), "xo"),
		"--api-socket", api,
		"--docker-host", c.DockerHost(i),
		"--hostname", c.Hostname(i),
		"--advertise-addr", c.HostAddr(i),
		"--dns-upstream", c.Upstream.Addr}, extra...)
	// XO_BENCH_AGENT_ARGS adds flags to every agent, for diagnosis (for
	// example --debug-pprof, to take CPU profiles while a scenario runs).
	args = append(args, strings.Fields(os.Getenv("XO_BENCH_AGENT_ARGS"))...)
	agent := c.StartProcess(t, i, "xo-agent", args...)
	harness.Eventually(t, 30*time.Second, func() error {
		if agent.Exited() {
			t.Fatalf("agent on h%d exited:\n%s", i, agent.Log())
		}
		if out, err := exec.Command(xo, "--api-socket", api, "info").CombinedOutput(); err != nil {
			return fmt.Errorf("xo info: %v: %s", err, out)
		}
		if _, err := c.Exec(i, "test", "-S", "/run/docker/plugins/xoverlay.sock"); err != nil {
			return err
		}
		_, err := scrape(c, i)
		return err
	})
	return agent
}

// pluginMetric is the agent's plugin call latency histogram.
const pluginMetric = "xo_plugin_call_duration_seconds"

// scrape reads the agent's plugin call histograms, by method, from its
// metrics endpoint on host i's loopback.
func scrape(c *harness.Cluster, i int) (map[string]Histogram, error) {
	out, err := c.Exec(i, c.Bin("probe"), "http", "-n", "1", "-timeout", "5s", "http://127.0.0.1:9180/metrics")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(out, "# TYPE go_goroutines") && !strings.Contains(out, "# TYPE "+pluginMetric) {
		return nil, fmt.Errorf("metrics endpoint answered something else: %.200q", out)
	}
	return ParseHistograms(out, pluginMetric, "method")
}

// pluginErrors is the number of plugin calls the agent on host i answered
// with an error (xo_plugin_call_errors_total, all methods).
func pluginErrors(c *harness.Cluster, i int) (float64, error) {
	out, err := c.Exec(i, c.Bin("probe"), "http", "-n", "1", "-timeout", "5s", "http://127.0.0.1:9180/metrics")
	if err != nil {
		return 0, err
	}
	var n float64
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "xo_plugin_call_errors_total") {
			continue
		}
		name, _, v, err := parseSample(l)
		if err != nil {
			return 0, err
		}
		if name == "xo_plugin_call_errors_total" {
			n += v
		}
	}
	return n, nil
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
