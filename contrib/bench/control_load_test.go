//go:build bench

package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// The load of scenario control: ctlServices replicated services of
// ctlReplicas tasks each, created through the agents' API.
const (
	ctlServices = 1000
	ctlReplicas = 10
	ctlTasks    = ctlServices * ctlReplicas
	ctlWriters  = 16 // concurrent API clients, spread over the managers
	ctlImage    = "xo-demo:v1"
)

// ctlServiceName is the name of the k-th service.
func ctlServiceName(k int) string { return fmt.Sprintf("ctl%04d", k) }

// ctlCreate creates the services with ctlWriters concurrent API
// clients, writer w talking to the agent of host 1 + w mod N (the
// followers forward to the leader), and returns the time it took.
func ctlCreate(t *testing.T, c *harness.Cluster) time.Duration {
	t.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	start := time.Now()
	for w := range ctlWriters {
		cl := api.NewClient(apiSocket(c, 1+w%c.N))
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= ctlServices {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cl.ServiceCreate(ctx, api.ServiceSpec{Name: ctlServiceName(k), Image: ctlImage, Replicas: ctlReplicas})
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("service %s through %s: %w", ctlServiceName(k), cl.Socket(), err))
					mu.Unlock()
					next.Store(ctlServices) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// ctlRunning sums the agents' executor gauges: tasks running, and tasks
// on their way (assigned to running); the hosts in skip are left out.
func ctlRunning(c *harness.Cluster, skip ...int) (running, starting float64, err error) {
	for i := 1; i <= c.N; i++ {
		if slices.Contains(skip, i) {
			continue
		}
		text, err := ctlScrape(c, i)
		if err != nil {
			return 0, 0, err
		}
		ts := ctlExecutorTasks(text)
		running += ts["running"]
		starting += ts["assigned"] + ts["accepted"] + ts["preparing"] + ts["starting"]
	}
	return running, starting, nil
}

// ctlWaitRunning waits until the executors report every task running
// (polled every 200 ms) and returns when they first did, then checks
// through host i's API that every service runs exactly its replicas.
func ctlWaitRunning(t *testing.T, c *harness.Cluster, i int, timeout time.Duration) time.Time {
	t.Helper()
	var at time.Time
	harness.Eventually(t, timeout, func() error {
		running, starting, err := ctlRunning(c)
		if err != nil {
			return err
		}
		if running != ctlTasks || starting != 0 {
			return fmt.Errorf("executors report %.0f tasks running and %.0f on their way, want %d running", running, starting, ctlTasks)
		}
		at = time.Now()
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ss, err := api.NewClient(apiSocket(c, i)).Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != ctlServices {
		t.Fatalf("h%d lists %d services, want %d", i, len(ss), ctlServices)
	}
	for _, s := range ss {
		if s.Replicas.Running != ctlReplicas || s.Replicas.Desired != ctlReplicas {
			t.Fatalf("service %s runs %s, want %d/%d", s.Name, s.Replicas, ctlReplicas, ctlReplicas)
		}
	}
	return at
}

// ctlDiagnose logs, when the test failed, the tasks no longer wanted
// running grouped by node, state and error (through host i's API), and
// keeps the agents' logs in $TMPDIR/xo-bench-control.
func ctlDiagnose(t *testing.T, c *harness.Cluster, i int) {
	if !t.Failed() {
		return
	}
	dir := filepath.Join(os.TempDir(), "xo-bench-control")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		for h := 1; h <= c.N; h++ {
			if b, err := os.ReadFile(filepath.Join(c.StateDir(h), "xo-agent.log")); err == nil {
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("h%d-xo-agent.log", h)), b, 0o644)
			}
		}
		t.Logf("agent logs kept in %s", dir)
	}
	cl := api.NewClient(apiSocket(c, i))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ss, err := cl.Services(ctx)
	if err != nil {
		t.Logf("diagnose: %v", err)
		return
	}
	groups := map[string]int{}
	for _, s := range ss {
		ts, err := cl.ServiceTasks(ctx, s.ID)
		if err != nil {
			t.Logf("diagnose: %v", err)
			return
		}
		for _, tk := range ts {
			if tk.DesiredState != "running" {
				groups[fmt.Sprintf("node %s, desired %s, state %s, err %q, message %q", tk.Node, tk.DesiredState, tk.State,
					tk.Err, tk.Message)]++
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		t.Logf("diagnose: %d tasks: %s", groups[k], k)
	}
}

// ctlPad sends n small raft writes through host i's API (a node label,
// rewritten: the state gains one label) so that the log crosses raft's
// snapshot threshold.
func ctlPad(t *testing.T, c *harness.Cluster, i, n int) {
	t.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range ctlWriters {
		cl := api.NewClient(apiSocket(c, i))
		wg.Go(func() {
			for {
				k := next.Add(1)
				if k > int64(n) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := cl.NodeUpdate(ctx, c.Hostname(i), api.NodeUpdateRequest{LabelsAdd: map[string]string{"xo.bench.pad": fmt.Sprint(k)}})
				cancel()
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("padding the raft log: %v", err)
	}
}
