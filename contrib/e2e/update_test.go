//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// updTask is the part of `xo service ps --format json` the update tests read.
type updTask struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Node         string `json:"node"`
	Image        string `json:"image"`
	DesiredState string `json:"desired_state"`
	State        string `json:"state"`
	Err          string `json:"err"`
	Outdated     bool   `json:"outdated"`
	ContainerID  string `json:"container_id"`
}

// updService is the part of `xo service inspect` the update tests read.
type updService struct {
	Version uint64 `json:"version"`
	Spec    struct {
		Image string   `json:"image"`
		Env   []string `json:"env"`
	} `json:"spec"`
	PreviousSpec *struct {
		Image string   `json:"image"`
		Env   []string `json:"env"`
	} `json:"previous_spec"`
	UpdateStatus *struct {
		State   string `json:"state"`
		Message string `json:"message"`
	} `json:"update_status"`
}

func (n *node) service(t *testing.T, name string) updService {
	t.Helper()
	var out []updService
	if err := json.Unmarshal([]byte(n.mustXO(t, "service", "inspect", name)), &out); err != nil || len(out) != 1 {
		t.Fatalf("xo service inspect %s: %v %v", name, out, err)
	}
	return out[0]
}

// onVersion waits until web runs 3 tasks of its spec, none outdated and
// no other meant to run, every one answering version at / (asked from
// the client container by address, found through tasks.web), and exactly
// 3 web containers running on the engines.
func onVersion(t *testing.T, hs []*node, version string) {
	t.Helper()
	h1 := hs[0]
	harness.Eventually(t, 60*time.Second, func() error {
		var ts []updTask
		out, err := h1.xo("service", "ps", "web", "--format", "json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &ts); err != nil {
			return err
		}
		var live []string
		for _, tk := range ts {
			if tk.DesiredState == "running" && (tk.State != "running" || tk.Outdated) {
				return fmt.Errorf("task %s: %s, outdated %v %s", tk.Name, tk.State, tk.Outdated, tk.Err)
			}
			if tk.DesiredState == "running" {
				live = append(live, tk.Name)
			}
		}
		if len(live) != 3 {
			return fmt.Errorf("%d tasks meant to run: %v", len(live), live)
		}
		running := 0
		for _, h := range hs {
			running += len(strings.Fields(h.mustDocker(t, "ps", "-q", "--filter", "label=xo.service=web")))
		}
		if running != 3 {
			return fmt.Errorf("%d web containers running on the engines, want 3 (the old ones stopped)", running)
		}
		addrs, err := resolve(h1, "client", "tasks.web")
		if err != nil || len(strings.Fields(addrs)) != 3 {
			return fmt.Errorf("tasks.web: %v %q", err, addrs)
		}
		for _, ip := range strings.Fields(addrs) {
			body, err := h1.probe("client", "http", "-timeout", "3s", "http://"+ip+":8080/")
			if err != nil || !strings.Contains(body, `"version":"`+version+`"`) {
				return fmt.Errorf("http://%s:8080/: %v %s, want version %s", ip, err, body, version)
			}
		}
		return nil
	})
}

// TestRollingUpdate is issue 7's rolling updates and rollbacks on 3
// simulated hosts, with a client that watches tasks.web all along, and
// steady loads through the VIP, each host's HTTP port and nginx during
// each update: not one request fails.
func TestRollingUpdate(t *testing.T) {
	c, hs := startCluster3(t)
	h1, h2, h3 := hs[0], hs[1], hs[2]
	joinAll(t, h1, h2, h3)
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.157.0.0/24", "appnet")
	for _, n := range hs {
		hasNetwork(t, n, "appnet", "10.157.0.0/24")
	}
	h1.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "client", "xo-probe")
	h2.mustXO(t, "service", "create", "--name", "web", "--replicas", "3", "--network", "appnet", "-e", "VERSION=v1",
		"--health-cmd", `["CMD","/demoapp","-check"]`, "--health-interval", "500ms", "--health-retries", "1",
		"--stop-grace-period", "5s", "--publish", "published=8088,target=8080,mode=http", "xo-demo:v1")
	onVersion(t, hs, "v1")
	w := watchDNS(t, hs)
	lt := startLoadTargets(t, c, hs, 8088)

	t.Run("start-first to v2", func(t *testing.T) {
		ss := lt.loads(t, "startfirst")
		waitAnswered(t, ss, "v1")
		out := h1.mustXO(t, "service", "update", "--image", "xo-demo:v2", "--env-add", "VERSION=v2",
			"--update-order", "start-first", "--update-monitor", "1s", "web")
		if !strings.Contains(out, "overall progress: 3 out of 3 tasks") || !strings.Contains(out, "verify: Service converged") {
			t.Fatalf("update did not follow the service to convergence:\n%s", out)
		}
		t.Logf("xo service update:\n%s", out)
		onVersion(t, hs, "v2")
		if s := h2.service(t, "web"); s.UpdateStatus == nil || s.UpdateStatus.State != "completed" ||
			s.PreviousSpec == nil || s.PreviousSpec.Image != "xo-demo:v1" || s.Spec.Image != "xo-demo:v2" {
			t.Fatalf("after the update: %+v", s)
		}
		checkLoads(t, ss, "v1", "v2")
	})

	t.Run("stop-first to v3, two at a time", func(t *testing.T) {
		ss := lt.loads(t, "stopfirst")
		waitAnswered(t, ss, "v2")
		out := h3.mustXO(t, "service", "update", "--image", "xo-demo:v1", "--env-add", "VERSION=v3",
			"--update-order", "stop-first", "--update-parallelism", "2", "--update-monitor", "1s", "web")
		if !strings.Contains(out, "verify: Service converged") {
			t.Fatalf("update output:\n%s", out)
		}
		onVersion(t, hs, "v3")
		if s := h1.service(t, "web"); s.UpdateStatus == nil || s.UpdateStatus.State != "completed" {
			t.Fatalf("after the update: %+v", s.UpdateStatus)
		}
		checkLoads(t, ss, "v2", "v3")
	})

	t.Run("a version that fails its health check is rolled back", func(t *testing.T) {
		ss := lt.loads(t, "failing")
		waitAnswered(t, ss, "v3")
		out, err := h1.xo("service", "update", "--env-add", "FAIL_HEALTH=1", "--update-failure-action", "rollback",
			"--update-monitor", "1s", "--rollback-monitor", "1s", "web")
		if err == nil || !strings.Contains(err.Error(), "service web rolled back: update to version") ||
			!strings.Contains(out, "unhealthy") {
			t.Fatalf("update of a failing version: err %v, output:\n%s", err, out)
		}
		t.Logf("xo service update of a failing version:\n%s", out)
		onVersion(t, hs, "v3")
		s := h2.service(t, "web")
		if s.UpdateStatus == nil || s.UpdateStatus.State != "rollback_completed" ||
			!strings.Contains(s.UpdateStatus.Message, "unhealthy") || strings.Contains(strings.Join(s.Spec.Env, " "), "FAIL_HEALTH") {
			t.Fatalf("after the rollback: status %+v, env %v", s.UpdateStatus, s.Spec.Env)
		}
		checkLoads(t, ss, "v3")
	})

	t.Run("xo service rollback after a good update", func(t *testing.T) {
		ss := lt.loads(t, "rollback")
		waitAnswered(t, ss, "v3")
		// All at once, start-first: the new tasks serve before the old go.
		h1.mustXO(t, "service", "update", "--env-add", "VERSION=v4", "--update-parallelism", "0",
			"--update-order", "start-first", "--update-monitor", "1s", "web")
		onVersion(t, hs, "v4")
		out := h2.mustXO(t, "service", "rollback", "web")
		if !strings.Contains(out, "rollback requested") || !strings.Contains(out, "verify: Service converged") {
			t.Fatalf("rollback output:\n%s", out)
		}
		onVersion(t, hs, "v3")
		if s := h3.service(t, "web"); s.UpdateStatus == nil || s.UpdateStatus.State != "rollback_completed" {
			t.Fatalf("after the rollback: %+v", s.UpdateStatus)
		}
		checkLoads(t, ss, "v3", "v4", "v3")
	})

	t.Run("bad update flags are refused and nothing is stored", func(t *testing.T) {
		before := h1.service(t, "web").Version
		for _, args := range [][]string{
			{"--update-order", "sideways"}, {"--update-failure-action", "retry"}, {"--rollback-failure-action", "rollback"},
			{"--update-max-failure-ratio", "1.5"}, {"--update-delay", "-1s"}, {"--env-add", "=x"},
		} {
			out, err := h1.xo(append(append([]string{"service", "update"}, args...), "web")...)
			if err == nil || !strings.Contains(out, strings.TrimPrefix(args[0], "--")) {
				t.Errorf("xo service update %v: err %v, output %s: want an error naming the flag", args, err, out)
			}
		}
		if after := h1.service(t, "web").Version; after != before {
			t.Fatalf("version %d -> %d after refused updates", before, after)
		}
	})

	t.Run("the client never resolved a stopped or unhealthy task", func(t *testing.T) {
		w.check(t)
	})
}

// dnsWatch is a container on appnet asking the agent for tasks.web every
// 20 ms (probe dnswatch), and a poller that learns the address of every
// web container while it runs.
type dnsWatch struct {
	hs   []*node
	stop chan struct{}
	done sync.WaitGroup

	mu  sync.Mutex
	ips map[string]string // container ID -> its address on appnet
}

func watchDNS(t *testing.T, hs []*node) *dnsWatch {
	t.Helper()
	hs[1].mustDocker(t, "run", "-d", "--net", "appnet", "--name", "dnsw", "--entrypoint", "/probe", "xo-probe",
		"dnswatch", "tasks.web", "-server", "169.254.53.53:53", "-interval", "20ms", "-duration", "20m")
	// Until the agent knows the watcher's endpoint, it cannot tell its
	// networks, and answers NXDOMAIN: wait for the 3 addresses.
	harness.Eventually(t, 20*time.Second, func() error {
		logs := hs[1].mustDocker(t, "logs", "dnsw")
		for _, line := range strings.Split(logs, "\n") {
			if f := strings.Fields(line); len(f) == 2 && strings.Count(f[1], ",") == 2 {
				return nil
			}
		}
		return fmt.Errorf("the watcher has not resolved tasks.web to 3 addresses yet:\n%s", logs)
	})
	w := &dnsWatch{hs: hs, stop: make(chan struct{}), ips: map[string]string{}}
	w.done.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			w.poll()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	})
	t.Cleanup(w.halt)
	return w
}

func (w *dnsWatch) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.done.Wait()
}

// poll records the address of each running web container.
func (w *dnsWatch) poll() {
	for _, h := range w.hs {
		ids, err := h.docker("ps", "-q", "--no-trunc", "--filter", "label=xo.service=web")
		if err != nil || strings.TrimSpace(ids) == "" {
			continue
		}
		out, err := h.docker(append([]string{"inspect", "-f",
			`{{.ID}} {{with index .NetworkSettings.Networks "appnet"}}{{.IPAddress}}{{end}}`}, strings.Fields(ids)...)...)
		if err != nil {
			continue
		}
		w.mu.Lock()
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) == 2 {
				w.ips[f[0]] = f[1]
			}
		}
		w.mu.Unlock()
	}
}

// answer is one change of the watched answer.
type answer struct {
	at    time.Time
	addrs map[string]bool
	raw   string
}

// check reads the watcher's answers and every web container's life: no
// answer holds the address of a container with FAIL_HEALTH=1 while it
// ran (it was never healthy), nor of any other container within the
// 300 ms before it stopped (it was drained first).
func (w *dnsWatch) check(t *testing.T) {
	w.halt()
	logs := w.hs[1].mustDocker(t, "logs", "dnsw")
	var answers []answer
	for _, line := range strings.Split(logs, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(answers) == 0 && strings.Count(f[1], ",") != 2 {
			continue // before the agent knew the watcher (see watchDNS)
		}
		a := answer{at: time.Unix(0, ns), addrs: map[string]bool{}, raw: f[1]}
		for _, ip := range strings.Split(f[1], ",") {
			a.addrs[ip] = true
		}
		answers = append(answers, a)
	}
	if len(answers) < 5 {
		t.Fatalf("the watcher saw %d answers:\n%s", len(answers), logs)
	}
	for _, a := range answers {
		if len(a.addrs) == 0 || a.raw == "NOERROR-EMPTY" || a.raw == "NXDOMAIN" {
			t.Errorf("at %s tasks.web had no address: %s", a.at.Format(time.RFC3339Nano), a.raw)
		}
	}
	// answerAt is the answer in force at time x (the last change before it).
	answerAt := func(x time.Time) answer {
		i := sort.Search(len(answers), func(i int) bool { return answers[i].at.After(x) })
		if i == 0 {
			return answer{}
		}
		return answers[i-1]
	}
	checked := 0
	for _, h := range w.hs {
		ids := strings.Fields(h.mustDocker(t, "ps", "-aq", "--no-trunc", "--filter", "label=xo.service=web"))
		for _, id := range ids {
			info := h.mustDocker(t, "inspect", "-f", `{{.State.StartedAt}} {{.State.FinishedAt}} {{.State.Running}} {{.Config.Env}}`, id)
			f := strings.Fields(info)
			start, _ := time.Parse(time.RFC3339Nano, f[0])
			end, _ := time.Parse(time.RFC3339Nano, f[1])
			w.mu.Lock()
			ip := w.ips[id]
			w.mu.Unlock()
			if ip == "" || start.IsZero() {
				continue // never seen running
			}
			running := f[2] == "true"
			if running {
				end = time.Now()
			}
			from := end.Add(-300 * time.Millisecond)
			if strings.Contains(info, "FAIL_HEALTH=1") {
				from = start
			} else if running {
				continue
			}
			checked++
			for _, a := range answers {
				if a.at.After(from) && a.at.Before(end) && a.addrs[ip] {
					t.Errorf("at %s tasks.web answered %s with %s, of container %.12s on h%d (%s): out of service then",
						a.at.Format(time.RFC3339Nano), a.raw, ip, id, h.i, strings.TrimSpace(info))
				}
			}
			if a := answerAt(from); a.addrs[ip] {
				t.Errorf("from %s tasks.web answered %s with %s, of container %.12s on h%d: out of service then",
					from.Format(time.RFC3339Nano), a.raw, ip, id, h.i)
			}
		}
	}
	if checked < 9 {
		t.Fatalf("only %d stopped or failing web containers checked", checked)
	}
	t.Logf("%d answers of tasks.web checked against %d containers", len(answers), checked)
}
