//go:build bench

package bench

import (
	"bufio"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// updEvents follows every engine's container start and die events with
// one `docker events` per host and keeps them. The scenario owns the
// processes and their readers: stop (also run at cleanup) ends them and
// waits for the readers.
type updEvents struct {
	mu  sync.Mutex
	evs []updEvent
	bad []string // lines that did not parse

	procs []*exec.Cmd
	wg    sync.WaitGroup // the readers
	once  sync.Once
}

func watchUpdEvents(t *testing.T, c *harness.Cluster) *updEvents {
	t.Helper()
	w := &updEvents{}
	t.Cleanup(w.stop)
	for i := 1; i <= c.N; i++ {
		cmd, out := dockerEvents(t, c, i, "type=container", "event=start", "event=die")
		w.procs = append(w.procs, cmd)
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
			_ = cmd.Wait()
		})
	}
	return w
}

// stop ends every follower and waits for their readers; it can run twice.
func (w *updEvents) stop() {
	w.once.Do(func() {
		for _, cmd := range w.procs {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its reader reaps it
		}
		w.wg.Wait()
	})
}

// snapshot returns the events so far, or an error for a line that did
// not parse.
func (w *updEvents) snapshot() ([]updEvent, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bad) > 0 {
		return nil, fmt.Errorf("unreadable engine events: %s", w.bad[0])
	}
	return append([]updEvent(nil), w.evs...), nil
}

// await polls the events until the update from old to img of the
// selection is done (see converged), for at most timeout.
func (w *updEvents) await(sel updSel, old []string, since time.Time, n int, img string, timeout time.Duration) (updDone, error) {
	deadline := time.Now().Add(timeout)
	for {
		evs, err := w.snapshot()
		if err != nil {
			return updDone{}, err
		}
		if d, ok := converged(evs, sel, old, since, n, img); ok {
			return d, nil
		}
		if time.Now().After(deadline) {
			return updDone{}, fmt.Errorf("%d replicas of %s with the old ones stopped: not seen in the engines' events within %s; "+
				"events since the update began:\n%s", n, img, timeout, timeline(evs, sel, since))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
