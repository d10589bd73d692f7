//go:build bench

package bench

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// ctlAgents are the agents of scenario control, by host; a killed one is
// replaced by its restart.
type ctlAgents struct {
	c     *harness.Cluster
	procs map[int]*harness.Proc
}

// ctlFlags are the agent flags of scenario control: tasks on the
// simulated engine, metrics on every address of the host (read over the
// underlay), and a node-down grace that outlasts a restart (see the
// notes).
var ctlFlags = []string{"--simulate-tasks", "--metrics-addr", fmt.Sprintf("0.0.0.0:%d", ctlMetricsPort),
	"--node-down-after", "30s"}

func (a *ctlAgents) start(t *testing.T, i int) {
	t.Helper()
	a.procs[i] = startAgent(t, a.c, i, ctlFlags...)
}

// leader is the host whose agent says it leads raft.
func (a *ctlAgents) leader(t *testing.T) int {
	t.Helper()
	leader := 0
	harness.Eventually(t, 30*time.Second, func() error {
		leader = 0
		for i := 1; i <= a.c.N; i++ {
			text, err := ctlScrape(a.c, i)
			if err != nil {
				return err
			}
			if v, _ := ctlSample(text, "xo_raft_is_leader", nil); v == 1 {
				if leader != 0 {
					return fmt.Errorf("h%d and h%d both lead", leader, i)
				}
				leader = i
			}
		}
		if leader == 0 {
			return errors.New("no leader")
		}
		return nil
	})
	return leader
}

// leaderOr is the host whose agent leads, or def when none says so.
func (a *ctlAgents) leaderOr(def int) int {
	for i := 1; i <= a.c.N; i++ {
		if text, err := ctlScrape(a.c, i); err == nil {
			if v, _ := ctlSample(text, "xo_raft_is_leader", nil); v == 1 {
				return i
			}
		}
	}
	return def
}

// ctlRound is what one round measured, from the kill -9 of the leader's
// agent.
type ctlRound struct {
	old, new  int
	elected   time.Duration // a survivor's raft says it leads (polled every 10 ms)
	noticed   time.Duration // its orchestrator began leading (xo_orchestrator_leader_since_timestamp_seconds)
	converged time.Duration // its first pass with nothing left to do finished (xo_orchestrator_converged_timestamp_seconds)
	restart   time.Duration // the killed agent, started again, serves and runs its tasks again
	created   float64       // tasks the new leader created in the round: none is the right answer
}

// killLeader kills the leader's agent with SIGKILL, measures the new
// leader's election and convergence, restarts the killed agent and
// waits until every task runs again.
func (a *ctlAgents) killLeader(t *testing.T) ctlRound {
	t.Helper()
	f := ctlRound{old: a.leader(t)}
	var survivors []int
	createdBefore := map[int]float64{}
	for i := 1; i <= a.c.N; i++ {
		if i == f.old {
			continue
		}
		survivors = append(survivors, i)
		text, err := ctlScrape(a.c, i)
		if err != nil {
			t.Fatal(err)
		}
		createdBefore[i], _ = ctlSample(text, "xo_orchestrator_tasks_created_total", nil)
	}
	old := a.procs[f.old]
	kill := time.Now()
	if err := old.Kill(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 h%d's agent: %v", f.old, err)
	}
	_ = old.WaitTimeout(10 * time.Second) // killed: a non-nil exit status

	deadline := kill.Add(60 * time.Second)
	for f.new == 0 {
		for _, i := range survivors {
			if text, err := ctlScrape(a.c, i); err == nil {
				if v, _ := ctlSample(text, "xo_raft_is_leader", nil); v == 1 {
					f.new, f.elected = i, time.Since(kill)
					break
				}
			}
		}
		if f.new == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no new leader among h%v 60 s after h%d's agent was killed", survivors, f.old)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for {
		text, err := ctlScrape(a.c, f.new)
		if err == nil {
			since, _ := ctlSample(text, "xo_orchestrator_leader_since_timestamp_seconds", nil)
			conv, _ := ctlSample(text, "xo_orchestrator_converged_timestamp_seconds", nil)
			if !ctlTime(conv).IsZero() {
				f.noticed, f.converged = ctlTime(since).Sub(kill), ctlTime(conv).Sub(kill)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("h%d leads but its orchestrator did not converge within 60 s of the kill (last error %v)", f.new, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	r0 := time.Now()
	a.start(t, f.old)
	harness.Eventually(t, 60*time.Second, func() error {
		running, starting, err := ctlRunning(a.c)
		if err != nil {
			return err
		}
		if running != ctlTasks || starting != 0 {
			return fmt.Errorf("after h%d's restart: %.0f tasks running, %.0f on their way, want %d running",
				f.old, running, starting, ctlTasks)
		}
		return nil
	})
	f.restart = time.Since(r0)
	text, err := ctlScrape(a.c, f.new)
	if err != nil {
		t.Fatal(err)
	}
	created, _ := ctlSample(text, "xo_orchestrator_tasks_created_total", nil)
	f.created = created - createdBefore[f.new]
	return f
}
