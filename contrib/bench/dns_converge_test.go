//go:build bench

package bench

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	moverName     = "mover"
	convergeTries = 50
	convergeWarm  = 2
	convergeLimit = 100.0 // ms, the bound
)

// timedLine is one line of a stream, with the time it reports.
type timedLine struct {
	at   time.Time
	text string
}

// stream collects "TEXT... UNIXNANO"-style lines of a background command
// that the benchmark started itself (and stops).
type stream struct {
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []timedLine
}

// startStream runs argv, parsing each stdout line with parse.
func startStream(t *testing.T, name string, argv []string, parse func(string) (timedLine, bool)) *stream {
	t.Helper()
	s := &stream{name: name, cmd: exec.Command(argv[0], argv[1:]...)}
	s.cmd.Env = dockerlessEnv()
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l, ok := parse(sc.Text()); ok {
				s.mu.Lock()
				s.lines = append(s.lines, l)
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *stream) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// wait returns the index and time of the first line at or after index
// from that satisfies ok, waiting up to timeout.
func (s *stream) wait(from int, ok func(string) bool, timeout time.Duration) (int, time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		for i := from; i < len(s.lines); i++ {
			if ok(s.lines[i].text) {
				at := s.lines[i].at
				s.mu.Unlock()
				return i, at, nil
			}
		}
		n := len(s.lines)
		s.mu.Unlock()
		if time.Now().After(deadline) {
			last := "nothing"
			if n > 0 {
				s.mu.Lock()
				last = fmt.Sprintf("%q", s.lines[n-1].text)
				s.mu.Unlock()
			}
			return 0, time.Time{}, fmt.Errorf("%s: not seen within %s (last line %s)", s.name, timeout, last)
		}
		time.Sleep(time.Millisecond)
	}
}

func dockerlessEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") && !strings.HasPrefix(kv, "DOCKER_CONTEXT=") {
			env = append(env, kv)
		}
	}
	return env
}

// parseWatch reads `probe dnswatch` lines ("UNIXNANO ANSWER"), skipping
// its error lines.
func parseWatch(l string) (timedLine, bool) {
	ns, answer, ok := strings.Cut(l, " ")
	if !ok || strings.HasPrefix(answer, "error") {
		return timedLine{}, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return timedLine{}, false
	}
	return timedLine{at: time.Unix(0, n), text: answer}, true
}

// parseEvent reads `docker events --format '{{.TimeNano}} {{.Action}}'`.
func parseEvent(l string) (timedLine, bool) { return parseWatch(l) }

// convergence restarts a named container on h1 (docker rm -f, then
// docker run with the same name and the other of two addresses) and
// times, from the engine's die and start events, when dnsd on every host
// stops answering the name and answers the new address.
func (b *dnsBench) convergence(t *testing.T, res *Result) string {
	const origin = 1
	c := b.c
	events := startStream(t, "docker events h1", []string{"docker", "-H", c.DockerHost(origin), "events",
		"--filter", "type=container", "--filter", "container=" + moverName, "--format", "{{.TimeNano}} {{.Action}}"}, parseEvent)
	watchers := make([]*stream, c.N+1)
	for h := 1; h <= c.N; h++ {
		watchers[h] = startStream(t, fmt.Sprintf("dnswatch h%d", h), []string{"bash", c.HostsScript(), "exec", strconv.Itoa(h),
			c.Bin("probe"), "dnswatch", moverName, "-server", dnsAddr + ":53", "-interval", "1ms", "-timeout", "100ms",
			"-duration", "20m"}, parseWatch)
	}
	gone := func(a string) bool { return a == "NXDOMAIN" || a == "NOERROR-EMPTY" }
	for h := 1; h <= c.N; h++ {
		if _, _, err := watchers[h].wait(0, gone, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // the event stream is attached

	addrs := []string{"10.180.0.200", "10.180.0.201"}
	cursor := make([]int, c.N+1)
	evCursor := 0
	// seen waits for the next event action on h1 and for every watcher's
	// answer to satisfy ok; it returns the slowest host's delay and each
	// host's, in ms, and the event's time.
	seen := func(action string, ok func(string) bool) (float64, []float64, time.Time) {
		i, at, err := events.wait(evCursor, func(a string) bool { return a == action }, 30*time.Second)
		if err != nil {
			t.Fatalf("%s event: %v", action, err)
		}
		evCursor = i + 1
		worst, per := math.Inf(-1), make([]float64, c.N+1)
		for h := 1; h <= c.N; h++ {
			j, seenAt, err := watchers[h].wait(cursor[h], ok, 30*time.Second)
			if err != nil {
				t.Fatalf("after the %s event: %v", action, err)
			}
			cursor[h] = j + 1
			per[h] = ms(seenAt.Sub(at))
			worst = math.Max(worst, per[h])
		}
		return worst, per, at
	}

	var appear, vanish, destroyed []float64
	perHost := map[string][]float64{}
	roundApp, roundGone := make([][]float64, b.nRounds), make([][]float64, b.nRounds)
	for k := range convergeWarm + convergeTries {
		ip := addrs[k%2]
		var goneMs float64
		var gonePer []float64
		var destroyMs float64
		if k > 0 {
			c.MustDocker(t, origin, "rm", "-f", moverName)
			var dieAt time.Time
			goneMs, gonePer, dieAt = seen("die", gone)
			// When the engine finished removing it, for comparison.
			i, at, err := events.wait(evCursor, func(a string) bool { return a == "destroy" }, 30*time.Second)
			if err != nil {
				t.Fatalf("destroy event: %v", err)
			}
			evCursor = i + 1
			destroyMs = ms(at.Sub(dieAt))
		}
		c.MustDocker(t, origin, "run", "-d", "--net", dnsNet, "--ip", ip, "--name", moverName, "xo-probe:latest")
		appMs, appPer, _ := seen("start", func(a string) bool { return a == ip })
		if k < convergeWarm {
			continue
		}
		j := k - convergeWarm
		r := j * b.nRounds / convergeTries
		appear = append(appear, appMs)
		vanish = append(vanish, goneMs)
		destroyed = append(destroyed, destroyMs)
		roundApp[r] = append(roundApp[r], appMs)
		roundGone[r] = append(roundGone[r], goneMs)
		for h := 1; h <= c.N; h++ {
			perHost[fmt.Sprintf("start h%d", h)] = append(perHost[fmt.Sprintf("start h%d", h)], appPer[h])
			perHost[fmt.Sprintf("die h%d", h)] = append(perHost[fmt.Sprintf("die h%d", h)], gonePer[h])
		}
		t.Logf("convergence %d/%d: %s on every host %.1f ms after start (h1..h3: %s); gone %.1f ms after die (%s; "+
			"the engine's destroy event came %.1f ms after die)",
			j+1, convergeTries, ip, appMs, msList(appPer[1:]), goneMs, msList(gonePer[1:]), destroyMs)
	}
	c.MustDocker(t, origin, "rm", "-f", moverName)
	for _, w := range watchers[1:] {
		w.stop()
	}
	events.stop()

	var hostNote []string
	for _, k := range sortedKeys(perHost) {
		hostNote = append(hostNote, fmt.Sprintf("%s p50 %.1f / p99 %.1f ms", k, Percentile(perHost[k], 0.5), Percentile(perHost[k], 0.99)))
	}
	medians := func(rs [][]float64) []float64 {
		var m []float64
		for _, vs := range rs {
			m = append(m, Median(vs))
		}
		return m
	}
	for _, x := range []struct {
		metric string
		vs     []float64
		rounds []float64
	}{
		{"new address answered on every host, after the engine's start event (slowest host)", appear, medians(roundApp)},
		{"old address gone (NXDOMAIN) on every host, after the engine's die event (slowest host)", vanish, medians(roundGone)},
	} {
		res.Rows = append(res.Rows, Row{System: "xoverlay dnsd", Metric: x.metric, Unit: "ms",
			Median: F(r2(Median(x.rounds))), Rounds: roundTo(x.rounds, 100),
			P50: F(r2(Percentile(x.vs, 0.5))), P99: F(r2(Percentile(x.vs, 0.99))), Mean: F(r2(mean(x.vs))), Samples: len(x.vs)})
	}
	res.Ratios = append(res.Ratios,
		NewRatio("convergence after start, p99 / 100 ms", Percentile(appear, 0.99), convergeLimit, "<=", 1),
		NewRatio("convergence after die, p99 / 100 ms", Percentile(vanish, 0.99), convergeLimit, "<=", 1),
	)
	res.Notes = append(res.Notes, "Convergence: the event times are h1's engine's own (`docker events`, timeNano); "+
		"the answer times are when `probe dnswatch` (contrib/probe), polling 169.254.53.53 from each host's namespace "+
		"every 1 ms, received the first changed answer. Both use this machine's clock; the resolution is about 1 ms "+
		"plus one query. Per host: "+strings.Join(hostNote, "; ")+fmt.Sprintf(". For scale, `docker rm -f` on h1 "+
		"emitted its destroy event %.1f ms (median; p99 %.1f ms) after die: when the engine itself stalls, so does "+
		"the record. With %d restarts the p99 is about the slowest one.", Median(destroyed),
		Percentile(destroyed, 0.99), convergeTries))
	return fmt.Sprintf("**Convergence**: %d restarts (after %d unmeasured) of a container named %s on h1: `docker rm -f`, "+
		"then `docker run --name %s --ip` alternating between %s, so each restart changes the answer; timed from the "+
		"engine's die event until every host's dnsd answers NXDOMAIN, and from its start event until every host's "+
		"dnsd answers the new address (the slowest of h1, h2, h3 counts); per-round medians over %d blocks of "+
		"consecutive restarts.", convergeTries, convergeWarm, moverName, moverName, strings.Join(addrs, " and "), b.nRounds)
}

func msList(vs []float64) string {
	var s []string
	for _, v := range vs {
		s = append(s, fmt.Sprintf("%.1f", v))
	}
	return strings.Join(s, "/")
}
