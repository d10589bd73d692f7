//go:build bench

package bench

// Scenario update's diagnosis of a run that failed requests: what the
// load saw, the replicas' events, nginx's error log, the update command's
// output and the agents' warnings from that run.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// agentLog is host i's agent log (startAgent's StartProcess name).
func (b *updBench) agentLog(i int) string { return filepath.Join(b.c.StateDir(i), "xo-agent.log") }

// agentLogSizes is the size of every agent log now: where a run's lines
// begin.
func (b *updBench) agentLogSizes() map[int]int64 {
	sizes := map[int]int64{}
	for i := 1; i <= b.c.N; i++ {
		if st, err := os.Stat(b.agentLog(i)); err == nil {
			sizes[i] = st.Size()
		}
	}
	return sizes
}

// warnOr keeps the agent log lines that are warnings or errors, or that
// contain one of words.
func warnOr(words ...string) func(string) bool {
	return func(l string) bool {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") ||
			strings.Contains(l, `"@level":"warn"`) || strings.Contains(l, `"@level":"error"`) {
			return true
		}
		low := strings.ToLower(l)
		for _, w := range words {
			if strings.Contains(low, w) {
				return true
			}
		}
		return false
	}
}

// agentNotes returns host i's agent log lines after offset that keep
// accepts, at most max of them (the last ones).
func (b *updBench) agentNotes(i int, offset int64, max int, keep func(string) bool) string {
	f, err := os.Open(b.agentLog(i))
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if l := sc.Text(); keep(l) {
			lines = append(lines, "    "+l)
		}
	}
	if len(lines) > max {
		lines = append([]string{fmt.Sprintf("    (%d more before)", len(lines)-max)}, lines[len(lines)-max:]...)
	}
	return strings.Join(lines, "\n")
}

// diagnose logs why load l of variant v's run failed requests (report
// r): the load began at began, the update command at t0 and printed out;
// logs are the agent logs' sizes at the start.
func (b *updBench) diagnose(t *testing.T, v updVariant, l *updLoad, r updReport, began, t0 time.Time, out string, logs map[int]int64) {
	t.Helper()
	sw := fmt.Sprintf("%d switches of version", len(r.Switches))
	if n := len(r.Switches); n > 0 {
		sw += fmt.Sprintf(" (the first at %d ms, the last at %d ms)", r.Switches[0].AtMS, r.Switches[n-1].AtMS)
	}
	evs, _ := b.ev.snapshot()
	// nginx logs to its stderr: docker logs prints that on its own.
	cmd := exec.Command("docker", "-H", b.c.DockerHost(v.place.nginx.host), "logs", "--since", began.Format(time.RFC3339Nano), v.place.nginx.name)
	cmd.Env = dockerlessEnv()
	raw, err := cmd.CombinedOutput()
	ngx := string(raw)
	if err != nil {
		ngx += err.Error()
	}
	var agents []string
	for i := 1; i <= b.c.N; i++ {
		if notes := b.agentNotes(i, logs[i], 30, warnOr("drain", "component=updater")); notes != "" {
			agents = append(agents, fmt.Sprintf("  h%d:\n%s", i, notes))
		}
	}
	t.Logf("%s, through %s: %d of %d requests failed (%s); the load began at %s, %.0f ms before the update command; "+
		"answers by version %v, first %v, last %v (ms after the load began), %s; latency p50 %.1f ms, p99 %.1f ms, max %.0f ms\n"+
		"the load's progress (one line a second):\n%s\n"+
		"the replicas' events (ms after the update command began):\n%s"+
		"the update command's output:\n%s\n"+
		"nginx's log during the run (%s on h%d):\n%s\n"+
		"the agents' warnings, errors and drain lines during the run:\n%s",
		v.name, l.path.name, r.Failed, r.Sent, errorList(r.Errors), began.UTC().Format("15:04:05.000"), ms(t0.Sub(began)), r.Versions, r.First, r.Last, sw,
		r.P50MS, r.P99MS, r.MaxMS, l.progress(), timeline(evs, v.place.sel, t0), lastLinesOf(out, 40),
		v.place.nginx.name, v.place.nginx.host, lastLinesOf(ngx, 40), strings.Join(agents, "\n"))
}

// logTrial logs what every run did: its figures, the replicas' events,
// the end of the update command's output and, for xoverlay, the agents'
// warnings and errors during the run.
func (b *updBench) logTrial(t *testing.T, v updVariant, tr updTrial, t0 time.Time, out string, logs map[int]int64) {
	t.Helper()
	evs, _ := b.ev.snapshot()
	var agents []string
	if v.place.sel.key == "xo.service" {
		for i := 1; i <= b.c.N; i++ {
			if notes := b.agentNotes(i, logs[i], 15, warnOr("component=updater")); notes != "" {
				agents = append(agents, fmt.Sprintf("  agent on h%d, warnings, errors and the updater's lines:\n%s", i, notes))
			}
		}
	}
	if d, ok := v.sys.(interface{ describe(*testing.T) string }); ok {
		agents = append(agents, d.describe(t))
	}
	t.Logf("%s: done %.0f ms after the update command began at %s (it returned after %.0f ms; %d replicas started; the slowest old replica's stop %.0f ms), failed %s; "+
		"the replicas' events (ms after the command began):\n%sthe command's output (tail):\n%s\n%s",
		v.name, tr.duration, t0.UTC().Format("15:04:05.000"), tr.command, tr.started, tr.shutdown, failedText(tr), timeline(evs, v.place.sel, t0),
		lastLinesOf(out, 12), strings.Join(agents, "\n"))
}

// slowestStop is the longest stop (SIGTERM to exit, in ms) of the
// containers old, read from their logs on the hosts whose events show
// them die; -1 when a log does not tell (the container is gone).
func (b *updBench) slowestStop(t *testing.T, old []string) float64 {
	t.Helper()
	evs, err := b.ev.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	slowest := 0.0
	for _, id := range old {
		host := 0
		for _, e := range evs {
			if e.ID == id && e.Action == "die" {
				host = e.Host
			}
		}
		if host == 0 {
			return -1
		}
		out, err := b.c.Docker(host, "logs", "--tail", "20", id)
		if err != nil {
			t.Logf("the log of %.12s on h%d: %v", id, host, err)
			return -1
		}
		d, ok := shutdownTime(out)
		if !ok {
			return -1
		}
		slowest = max(slowest, ms(d))
	}
	return slowest
}
