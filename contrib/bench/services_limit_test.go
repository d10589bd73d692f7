//go:build bench

package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// limitSvc labels the limit's containers (label xo.service, which the
// event watcher follows; the cluster sees them as members of an external
// service, which changes nothing here).
const limitSvc = "xo-bench-restart"

// restarters are the limit of the task deaths: one container per host
// that the engine restarts itself (`--restart always`).
type restarters struct {
	b    *svcBench
	ids  map[int]string    // host -> container ID
	last map[int]time.Time // host -> its last start event
}

func (b *svcBench) startRestarters(t *testing.T) *restarters {
	t.Helper()
	l := &restarters{b: b, ids: map[int]string{}, last: map[int]time.Time{}}
	for i := 1; i <= b.c.N; i++ {
		l.ids[i] = b.c.MustDocker(t, i, "run", "-d", "--restart", "always", "--net", svcNet, "--label",
			"xo.service="+limitSvc, "--name", fmt.Sprintf("restarter%d", i), "xo-demo:v1")
		id := l.ids[i]
		if err := b.ev.await(30*time.Second, "the start of restarter"+fmt.Sprint(i), func(evs []ctrEvent) (ok bool) {
			var e ctrEvent
			e, ok = firstEvent(evs, actStart, time.Time{}, func(e ctrEvent) bool { return e.ID == id })
			l.last[i] = e.At
			return ok
		}); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// kill kills the process of the container that has run longest, once it has run
// minAge (the engine's restart manager backs off too, from 100 ms, for
// a container that ran less than 10 s), and times its restart.
func (l *restarters) kill(t *testing.T) taskTrial {
	t.Helper()
	hosts := make([]int, 0, len(l.ids))
	for h := range l.ids {
		hosts = append(hosts, h)
	}
	h := slices.MinFunc(hosts, func(a, b int) int { return l.last[a].Compare(l.last[b]) })
	time.Sleep(max(0, minAge-time.Since(l.last[h])))
	id := l.ids[h]
	// A crash, not `docker kill`: the engine does not restart a container
	// killed through its API (it counts as stopped by hand).
	pid, err := strconv.Atoi(l.b.c.MustDocker(t, h, "inspect", "-f", "{{.State.Pid}}", id))
	if err != nil || pid <= 1 {
		t.Fatalf("h%d: restarter%d's pid: %v", h, h, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("h%d: killing restarter%d's process %d: %v", h, h, pid, err)
	}
	var die, start ctrEvent
	if err := l.b.ev.await(30*time.Second, fmt.Sprintf("restarter%d's die and start", h), func(evs []ctrEvent) (ok bool) {
		die, ok = firstEvent(evs, actDie, l.last[h], func(e ctrEvent) bool { return e.ID == id })
		if ok {
			start, ok = firstEvent(evs, actStart, die.At, func(e ctrEvent) bool { return e.ID == id })
		}
		return ok
	}); err != nil {
		t.Fatal(err)
	}
	age := msSince(l.last[h], die.At)
	l.last[h] = start.At
	d := msSince(die.At, start.At)
	return taskTrial{total: d, started: d, made: math.NaN(), recorded: math.NaN(), created: math.NaN(), age: age, spread: true}
}

// remove removes the limit's containers.
func (l *restarters) remove(t *testing.T) {
	t.Helper()
	for h, id := range l.ids {
		l.b.c.MustDocker(t, h, "rm", "-f", id)
	}
}
