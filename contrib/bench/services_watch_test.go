//go:build bench

package bench

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// engineEvents follows the container events of the task containers
// (label xo.service) of every engine with one `docker events` per host,
// and keeps them. A host's follower ends when its dockerd stops; follow
// starts it again. The benchmark owns the processes and their readers:
// stop (also run at cleanup) ends them and waits for them.
type engineEvents struct {
	c *harness.Cluster

	mu  sync.Mutex
	evs []ctrEvent
	bad []string // lines that did not parse

	// pmu guards procs; a reader reaps its process under it, so a process
	// still in procs has not been reaped and its pid is still its own.
	pmu   sync.Mutex
	procs map[int]*exec.Cmd // by host: the current follower
	wg    sync.WaitGroup    // the readers
}

func watchEngines(t *testing.T, c *harness.Cluster) *engineEvents {
	t.Helper()
	w := &engineEvents{c: c, procs: map[int]*exec.Cmd{}}
	t.Cleanup(w.stop)
	for i := 1; i <= c.N; i++ {
		w.follow(t, i)
	}
	return w
}

// follow starts following host i's engine, from now on (--since now, so
// no event after this call is lost even before the stream is attached).
func (w *engineEvents) follow(t *testing.T, i int) {
	t.Helper()
	cmd, out := dockerEvents(t, w.c, i, "type=container", "label=xo.service")
	w.pmu.Lock()
	if old := w.procs[i]; old != nil {
		_ = syscall.Kill(-old.Process.Pid, syscall.SIGKILL) // its reader reaps it
	}
	w.procs[i] = cmd
	w.pmu.Unlock()
	w.wg.Go(func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			e, err := parseCtrEvent(i, sc.Text())
			w.mu.Lock()
			if err != nil {
				w.bad = append(w.bad, err.Error())
			} else {
				w.evs = append(w.evs, e)
			}
			w.mu.Unlock()
		}
		w.pmu.Lock()
		defer w.pmu.Unlock()
		_ = cmd.Wait()
		if w.procs[i] == cmd {
			delete(w.procs, i)
		}
	})
}

// stop ends every follower and waits for their readers.
func (w *engineEvents) stop() {
	w.pmu.Lock()
	for _, cmd := range w.procs {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	w.pmu.Unlock()
	w.wg.Wait()
}

// snapshot returns the events so far, and the lines that did not parse.
func (w *engineEvents) snapshot() ([]ctrEvent, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]ctrEvent(nil), w.evs...), append([]string(nil), w.bad...)
}

// await polls the events until found says it has what it looks for, for
// at most timeout.
func (w *engineEvents) await(timeout time.Duration, what string, found func([]ctrEvent) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		evs, bad := w.snapshot()
		if len(bad) > 0 {
			return fmt.Errorf("waiting for %s: unreadable engine events: %s", what, bad[0])
		}
		if found(evs) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not seen in the engines' events within %s (%d events so far)", what, timeout, len(evs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dockerEvents starts `docker events` of host i's engine as JSON lines,
// from now on (--since now: no event after this call is lost, even
// before the stream is attached), with the given filters, in its own
// process group (the caller kills it with -pid, its reader reaps it).
func dockerEvents(t *testing.T, c *harness.Cluster, i int, filters ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	now := time.Now()
	args := []string{"-H", c.DockerHost(i), "events", "--since", fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())}
	for _, f := range filters {
		args = append(args, "--filter", f)
	}
	cmd := exec.Command("docker", append(args, "--format", "{{json .}}")...)
	cmd.Env = dockerlessEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker events on h%d: %v", i, err)
	}
	return cmd, out
}
