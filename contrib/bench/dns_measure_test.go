//go:build bench

package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// dnsperfLoad is one dnsperf run.
type dnsperfLoad struct {
	nsPid       string // run in this process's network namespace ("" = the host's)
	server      string
	port        int
	file        string
	seconds     int // -l (0: none)
	runs        int // -n (0: none)
	clients     int // -c (0: dnsperf's default, 1)
	outstanding int // -q
	qps         int // -Q (0: no limit)
	verbose     bool
}

// runDNSPerf runs dnsperf on host h and parses its output.
func runDNSPerf(c *harness.Cluster, h int, l dnsperfLoad) (DNSPerf, error) {
	var args []string
	if l.nsPid != "" {
		args = append(args, "nsenter", "-t", l.nsPid, "-n")
	}
	args = append(args, "dnsperf", "-s", l.server, "-p", strconv.Itoa(l.port), "-d", l.file, "-t", "2",
		"-q", strconv.Itoa(max(l.outstanding, 1)))
	if l.seconds > 0 {
		args = append(args, "-l", strconv.Itoa(l.seconds))
	}
	if l.runs > 0 {
		args = append(args, "-n", strconv.Itoa(l.runs))
	}
	if l.clients > 0 {
		args = append(args, "-c", strconv.Itoa(l.clients))
	}
	if l.qps > 0 {
		args = append(args, "-Q", strconv.Itoa(l.qps))
	}
	if l.verbose {
		args = append(args, "-v")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(l.seconds+60)*time.Second)
	defer cancel()
	out, err := c.ExecContext(ctx, h, args...)
	if err != nil {
		return DNSPerf{}, fmt.Errorf("dnsperf: %w", err)
	}
	r, err := ParseDNSPerf(out)
	if err != nil {
		return r, fmt.Errorf("h%d: %w", h, err)
	}
	return r, nil
}

func dnsperfVersion() string {
	out, _ := exec.Command("dnsperf", "-h").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Version "); ok {
			return v
		}
	}
	return "(version unknown)"
}

// dnsSystem is one DNS server under load, asked from host host (in the
// network namespace of nsPid when set).
type dnsSystem struct {
	name   string
	nsPid  string
	server string
	port   int
	file   string
	// rcodes is the expected share of each rcode in the answers.
	rcodes map[string]float64
	// cpu are the processes doing the serving (the agent for dnsd,
	// dockerd for 127.0.0.11...): their CPU time is counted.
	cpu []int
}

// dnsFigures are one system's measurements over all rounds.
type dnsFigures struct {
	qps       []float64 // per throughput round
	completed int
	lost      int
	rcodes    map[string]int
	lat       []float64 // ms, every query of the latency rounds
	p99s      []float64 // ms, per latency round
	latLost   int
	cpuPerK   []float64            // per latency round: CPU ms of s.cpu per 1,000 answers
	cpuByProc map[string][]float64 // the same by process name
}

// addCPU records the CPU the system's processes used since before (from
// cpuTimes) for completed answers.
func (f *dnsFigures) addCPU(t *testing.T, pids []int, before []float64, completed int) {
	t.Helper()
	if completed == 0 || len(pids) == 0 {
		return
	}
	var sum float64
	for i, now := range cpuTimes(t, pids) {
		perK := (now - before[i]) * 1e6 / float64(completed)
		f.cpuByProc[procName(pids[i])] = append(f.cpuByProc[procName(pids[i])], perK)
		sum += perK
	}
	f.cpuPerK = append(f.cpuPerK, sum)
}

// measureDNS runs, for nRounds rounds with the systems in rotating order,
// one saturating dnsperf run per system, then as many latency rounds at
// a rate every system sustains (half the slowest median): the same
// offered load for all. It returns the figures by system name and the
// latency rate.
func (b *dnsBench) measureDNS(t *testing.T, host int, systems []dnsSystem, clients, outstanding int) (map[string]*dnsFigures, int) {
	t.Helper()
	figs := map[string]*dnsFigures{}
	for _, s := range systems {
		figs[s.name] = &dnsFigures{rcodes: map[string]int{}, cpuByProc: map[string][]float64{}}
		var comms []string
		for _, pid := range s.cpu {
			comms = append(comms, fmt.Sprintf("%d (%s)", pid, procName(pid)))
		}
		t.Logf("%s: CPU counted for %s", s.name, strings.Join(comms, ", "))
		// Warm-up: the caches are filled, the path works.
		if _, err := runDNSPerf(b.c, host, dnsperfLoad{nsPid: s.nsPid, server: s.server, port: s.port, file: s.file,
			seconds: 1, clients: clients, outstanding: outstanding}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	for r := range b.nRounds {
		var line []string
		for k := range systems {
			s := systems[(r+k)%len(systems)]
			p, err := runDNSPerf(b.c, host, dnsperfLoad{nsPid: s.nsPid, server: s.server, port: s.port, file: s.file,
				seconds: dnsSeconds, clients: clients, outstanding: outstanding})
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			f := figs[s.name]
			f.qps = append(f.qps, p.QPS)
			f.completed += p.Completed
			f.lost += p.Lost
			for k, v := range p.Rcodes {
				f.rcodes[k] += v
			}
			line = append(line, fmt.Sprintf("%s %.0f/s (lost %d)", s.name, p.QPS, p.Lost))
		}
		t.Logf("dns round %d/%d: %s", r+1, b.nRounds, strings.Join(line, ", "))
	}
	slowest := math.Inf(1)
	for _, f := range figs {
		slowest = math.Min(slowest, Median(f.qps))
	}
	rate := max(1000, int(slowest/2/1000)*1000)
	for r := range b.nRounds {
		for k := range systems {
			s := systems[(r+k)%len(systems)]
			cpu0 := cpuTimes(t, s.cpu)
			p, err := runDNSPerf(b.c, host, dnsperfLoad{nsPid: s.nsPid, server: s.server, port: s.port, file: s.file,
				seconds: dnsLatSecs, clients: clients, outstanding: outstanding, qps: rate, verbose: true})
			if err != nil {
				t.Fatalf("%s at %d queries/s: %v", s.name, rate, err)
			}
			f := figs[s.name]
			f.addCPU(t, s.cpu, cpu0, p.Completed)
			round := make([]float64, len(p.Latencies))
			for i, v := range p.Latencies {
				round[i] = v * 1000
			}
			f.lat = append(f.lat, round...)
			f.p99s = append(f.p99s, Percentile(round, 0.99))
			f.latLost += p.Lost
		}
	}
	for _, s := range systems {
		checkRcodes(t, s, figs[s.name])
	}
	return figs, rate
}

// checkRcodes fails the test when a system answered the mix otherwise
// than expected (say SERVFAIL for forwarded names), which would make its
// rate meaningless; a few lost queries are reported, not failed.
func checkRcodes(t *testing.T, s dnsSystem, f *dnsFigures) {
	t.Helper()
	total := 0
	for _, n := range f.rcodes {
		total += n
	}
	for rc, n := range f.rcodes {
		if _, ok := s.rcodes[rc]; !ok {
			t.Errorf("%s answered %d of %d queries with %s", s.name, n, total, rc)
		}
	}
	for rc, share := range s.rcodes {
		if got := float64(f.rcodes[rc]) / float64(max(total, 1)); math.Abs(got-share) > 0.02 {
			t.Errorf("%s: %.1f%% %s answers, want %.1f%% (all: %v)", s.name, 100*got, rc, 100*share, f.rcodes)
		}
	}
}

// dnsRows appends the throughput and latency rows of systems to res and
// returns the median rates and the medians of the per-round p99
// latencies by system name. A round's p99 is that of its own answers;
// the median over rounds, not the p99 of all rounds' answers together,
// is compared, so that a moment of interference from the shared machine
// in one round does not decide the comparison (the p99 over all answers
// is in the latency row).
func dnsRows(res *Result, systems []dnsSystem, figs map[string]*dnsFigures, load string, rate int) (qps, p99 map[string]float64) {
	qps, p99 = map[string]float64{}, map[string]float64{}
	for _, s := range systems {
		f := figs[s.name]
		qps[s.name] = Median(f.qps)
		res.Rows = append(res.Rows, Row{System: s.name, Metric: "answered queries/s, saturated (" + load + ")",
			Unit: "queries/s", Median: F(math.Round(qps[s.name])), Rounds: roundTo(f.qps, 1), Samples: f.completed})
	}
	for _, s := range systems {
		f := figs[s.name]
		res.Rows = append(res.Rows, Row{System: s.name, Metric: fmt.Sprintf("latency at %d queries/s (dnsperf -v), all rounds' answers", rate),
			Unit: "ms", P50: F(r3(Percentile(f.lat, 0.5))), P99: F(r3(Percentile(f.lat, 0.99))), Mean: F(r3(mean(f.lat))),
			Samples: len(f.lat)})
	}
	for _, s := range systems {
		f := figs[s.name]
		p99[s.name] = Median(f.p99s)
		res.Rows = append(res.Rows, Row{System: s.name, Metric: fmt.Sprintf("p99 latency at %d queries/s, per round", rate),
			Unit: "ms", Median: F(r3(p99[s.name])), Rounds: roundTo(f.p99s, 1000), Samples: len(f.p99s)})
	}
	for _, s := range systems {
		f := figs[s.name]
		res.Rows = append(res.Rows, Row{System: s.name, Metric: fmt.Sprintf("CPU of the serving processes per 1,000 answers at %d queries/s", rate),
			Unit: "ms", Median: F(r2(Median(f.cpuPerK))), Rounds: roundTo(f.cpuPerK, 100), Samples: len(f.cpuPerK)})
	}
	return qps, p99
}

// cpuTimes are the CPU times in seconds (user and system, all threads)
// the processes pids have used so far.
func cpuTimes(t *testing.T, pids []int) []float64 {
	t.Helper()
	var ts []float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("cpu time: %v", err)
		}
		// The fields after the command name (which may hold spaces):
		// state is field 3, utime and stime are fields 14 and 15.
		_, rest, ok := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 13 {
			t.Fatalf("cpu time: /proc/%d/stat: %.100q", pid, b)
		}
		var sum float64
		for _, v := range f[11:13] {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("cpu time: /proc/%d/stat: %v", pid, err)
			}
			sum += n / clockTicks
		}
		ts = append(ts, sum)
	}
	return ts
}

// procName is the command name of process pid ("xo", "dockerd").
func procName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return strconv.Itoa(pid)
	}
	return strings.TrimSpace(string(b))
}

// cpuSplit says, for the systems served by more than one process, how
// their CPU per 1,000 answers divides (medians of the rounds).
func cpuSplit(systems []dnsSystem, figs map[string]*dnsFigures) string {
	var parts []string
	for _, s := range systems {
		f := figs[s.name]
		if len(f.cpuByProc) < 2 {
			continue
		}
		var each []string
		for _, name := range sortedKeys(f.cpuByProc) {
			each = append(each, fmt.Sprintf("%s %.1f ms", name, Median(f.cpuByProc[name])))
		}
		parts = append(parts, fmt.Sprintf("%s: %s", s.name, strings.Join(each, ", ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return "CPU per 1,000 answers by process: " + strings.Join(parts, "; ") + ". "
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

// dockerdPid is the pid of host h's dockerd.
func dockerdPid(t *testing.T, c *harness.Cluster, h int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.StateDir(h), "docker.pid"))
	if err != nil {
		t.Fatalf("h%d dockerd pid: %v", h, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("h%d dockerd pid: %v", h, err)
	}
	return pid
}

func r3(v float64) float64 { return math.Round(v*1000) / 1000 }

// lostNote says how many queries dnsperf gave up on (2 s timeout).
func lostNote(systems []dnsSystem, figs map[string]*dnsFigures) string {
	var parts []string
	for _, s := range systems {
		f := figs[s.name]
		parts = append(parts, fmt.Sprintf("%s %d of %d", s.name, f.lost+f.latLost, f.completed+f.lost+len(f.lat)+f.latLost))
	}
	return "Queries lost (no answer within dnsperf's 2 s timeout): " + strings.Join(parts, "; ") + "."
}
