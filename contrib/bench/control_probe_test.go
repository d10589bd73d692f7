//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// What scenario control reads of the agents: their metrics (served on
// every address of the host, read over the underlay from the benchmark's
// namespace), their processes' memory and their raft files.

// ctlMetricsPort is the agents' --metrics-addr port (on 0.0.0.0).
const ctlMetricsPort = 9180

var ctlHTTPClient = &http.Client{Timeout: 5 * time.Second}

// ctlScrape reads host i's agent metrics over the underlay.
func ctlScrape(c *harness.Cluster, i int) (string, error) {
	resp, err := ctlHTTPClient.Get(fmt.Sprintf("http://%s:%d/metrics", c.HostAddr(i), ctlMetricsPort))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("h%d metrics: %s", i, resp.Status)
	}
	return string(b), nil
}

// ctlSample returns the value of series name with the given label values
// (nil: a series without labels), and whether it is there.
func ctlSample(text, name string, labels map[string]string) (float64, bool) {
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, name) || strings.HasPrefix(l, "#") {
			continue
		}
		n, ls, v, err := parseSample(l)
		if err != nil || n != name || len(ls) != len(labels) {
			continue
		}
		match := true
		for k, want := range labels {
			match = match && ls[k] == want
		}
		if match {
			return v, true
		}
	}
	return 0, false
}

// ctlExecutorTasks is host i's executor gauge of its tasks by state.
func ctlExecutorTasks(text string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range []string{"assigned", "accepted", "preparing", "starting", "running", "complete", "shutdown",
		"failed", "rejected"} {
		out[s], _ = ctlSample(text, "xo_executor_tasks", map[string]string{"state": s})
	}
	return out
}

// ctlTime turns a Unix-seconds gauge into a time (zero for 0).
func ctlTime(v float64) time.Time {
	if v <= 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v*1e9))
}

// ctlRSS is the resident set of process pid (VmRSS).
func ctlRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q", l)
			}
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// ctlRaftDir is host i's agent's raft directory (its --state-dir/raft).
func ctlRaftDir(c *harness.Cluster, i int) string { return filepath.Join(c.StateDir(i), "xo", "raft") }

// ctlSnapshot is the newest raft snapshot of one agent.
type ctlSnapshot struct {
	Index uint64 `json:"Index"`
	Term  uint64 `json:"Term"`
	Size  int64  `json:"Size"`
	at    time.Time
}

// ctlLatestSnapshot reads the meta.json of host i's newest snapshot (by
// index); ok is false when there is none.
func ctlLatestSnapshot(c *harness.Cluster, i int) (s ctlSnapshot, ok bool, err error) {
	metas, err := filepath.Glob(filepath.Join(ctlRaftDir(c, i), "snapshots", "*", "meta.json"))
	if err != nil {
		return s, false, err
	}
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			continue // being written or pruned
		}
		var cur ctlSnapshot
		if json.Unmarshal(b, &cur) != nil {
			continue
		}
		if st, err := os.Stat(filepath.Join(filepath.Dir(m), "state.bin")); err == nil {
			cur.at = st.ModTime()
		}
		if !ok || cur.Index > s.Index {
			s, ok = cur, true
		}
	}
	return s, ok, nil
}

// ctlWALBytes is what the raft log holds in dir: the sum over its
// segment files (*.wal) of the bytes up to the last one that is not zero
// (raft-wal preallocates each segment, 64 MiB, and fills it from the
// start), and the files' allocated size.
func ctlWALBytes(dir string) (used, allocated int64, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		return 0, 0, err
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return 0, 0, err
		}
		n, err := lastNonZero(f)
		if st, serr := f.Stat(); serr == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				allocated += sys.Blocks * 512
			}
		}
		f.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", p, err)
		}
		used += n
	}
	return used, allocated, nil
}

// lastNonZero is the offset just past the last byte of f that is not 0.
func lastNonZero(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	for end := st.Size(); end > 0; {
		start := max(0, end-int64(len(buf)))
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}
