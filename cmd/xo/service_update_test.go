package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestServiceUpdateCmd(t *testing.T) {
	socket, ops := serviceSocket(t)
	// A change by someone else between the read and the write: read again.
	ops.Fail("ServiceUpdate", fmt.Errorf("%w: service api changed since version 1 (it is at version 2)", state.ErrConflict))
	check(t, socket, 0, "api\n", "", "service", "update", "-d", "--image", "nginx:1.28", "--env-add", "A=1",
		"--env-add", "B=2", "--env-rm", "B", "--label-add", "team=web", "--publish-add", "9090:90/udp", "--publish-rm", "80",
		"--replicas", "4", "--update-order", "start-first", "--update-parallelism", "2", "--update-failure-action", "rollback",
		"--rollback-parallelism", "0", "--rollback-monitor", "2s", "api")
	check(t, socket, 0, `nginx:1.28 [A=1] map[team:web] 4 [{90 9090 udp ingress}] 2`+"\n", "", "service", "inspect", "-f",
		"{{.Spec.Image}} {{.Spec.Env}} {{.Spec.Labels}} {{.Spec.Replicas}} {{.Spec.Ports}} {{.Version}}", "api")
	check(t, socket, 0, `{"parallelism":2,"failure_action":"rollback","monitor":5000000000,"order":"start-first"} `+
		`{"parallelism":0,"failure_action":"pause","monitor":2000000000,"order":"stop-first"} `+
		`updating nginx:1.27`+"\n", "", "service", "inspect", "-f",
		"{{json .Spec.UpdateConfig}} {{json .Spec.RollbackConfig}} {{.UpdateStatus.State}} {{.PreviousSpec.Image}}", "api")
	want := []string{"ServiceUpdate " + apiID + " 1 4", "ServiceUpdate " + apiID + " 1 4"}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s", strings.Join(got, "\n"))
	}

	// --force replaces the tasks although nothing else changed.
	check(t, socket, 0, "api\n", "", "service", "update", "-d", "--force", "api")
	check(t, socket, 0, "1 3\n", "", "service", "inspect", "-f", "{{.Spec.ForceUpdate}} {{.Version}}", "api")

	// Refused: the message names the flag, nothing is stored.
	see := "\nSee 'xo service update --help'.\n"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--update-order", "random"}, "Error: --update-order \"random\": want start-first or stop-first\n"},
		{[]string{"--update-failure-action", "retry", "--rollback-failure-action", "rollback"},
			"Error: --update-failure-action \"retry\": want pause, continue or rollback; " +
				"--rollback-failure-action rollback: want pause or continue (a rollback cannot roll back)\n"},
		{[]string{"--update-max-failure-ratio", "2"}, "Error: --update-max-failure-ratio 2: want a number from 0 to 1\n"},
		{[]string{"--update-delay", "-1s"}, "Error: --update-delay -1s: must not be negative\n"},
		{[]string{"--update-max-failure-ratio", "lots"},
			"Error: invalid argument \"lots\" for \"--update-max-failure-ratio\" flag: strconv.ParseFloat: parsing \"lots\": invalid syntax" + see},
		{[]string{"--env-add", "=1"}, "Error: invalid --env-add \"=1\": want KEY=VALUE, or KEY to pass this shell's" + see},
		{[]string{"--label-rm", "a=b"}, "Error: invalid --label-rm \"a=b\": want a KEY" + see},
		{[]string{"--publish-rm", "80:x"},
			"Error: invalid --publish-rm \"80:x\": want [PUBLISHED:]TARGET[/PROTOCOL], such as 8080:80/tcp or 80" + see},
		{[]string{"--publish-rm", "1234"}, "Error: invalid --publish-rm 1234: the service publishes no such port" + see},
	} {
		check(t, socket, 1, "", c.want, append(append([]string{"service", "update"}, c.args...), "api")...)
	}
	check(t, socket, 1, "", "Error: --replicas: only for --mode replicated, a global service runs one task per node\n",
		"service", "update", "--replicas", "2", "mon")
	check(t, socket, 1, "", "Error: service legacy is external: its tasks are containers run by hand with --label xo.service=legacy; "+
		"run xo service create --name legacy to manage it\n", "service", "update", "--image", "x", "legacy")
	check(t, socket, 0, "3\n", "", "service", "inspect", "-f", "{{.Version}}", "api")
}

func TestServiceRollbackCmd(t *testing.T) {
	socket, _ := serviceSocket(t)
	check(t, socket, 1, "", "Error: service api has no previous spec to roll back to: it was never updated\n",
		"service", "rollback", "api")
	check(t, socket, 0, "api\n", "", "service", "update", "-d", "--image", "nginx:1.28", "api")
	check(t, socket, 0, "api\n", "", "service", "rollback", "-d", "api")
	check(t, socket, 0, "nginx:1.27 nginx:1.28 rollback_started rollback requested\n", "", "service", "inspect", "-f",
		"{{.Spec.Image}} {{.PreviousSpec.Image}} {{.UpdateStatus.State}} {{.UpdateStatus.Message}}", "api")
	check(t, socket, 1, "", "Error: no such service: nope\n", "service", "rollback", "nope")
}

// updateFrames is a fake service whose status and tasks change per read.
type updateFrames struct {
	fakeService
	statuses []*api.UpdateStatus
}

func (f *updateFrames) Service(ctx context.Context, ref string) (api.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	svc := f.svc
	svc.UpdateStatus = f.statuses[min(f.reads, len(f.statuses)-1)]
	return svc, nil
}

func outdated(slot uint64, desired, state string) api.Task {
	t := task(slot, desired, state, "")
	t.Outdated = true
	return t
}

func TestWaitUpdated(t *testing.T) {
	updating := &api.UpdateStatus{State: api.UpdateUpdating, Message: "update in progress"}
	completed := &api.UpdateStatus{State: api.UpdateCompleted, Message: "update completed"}
	rollingBack := &api.UpdateStatus{State: api.UpdateRollbackStarted, Message: "update to version 2 failed: task web.1.x failed: unhealthy"}
	rolledBack := &api.UpdateStatus{State: api.UpdateRollbackCompleted,
		Message: "rolled back: update to version 2 failed: task web.1.x failed: unhealthy"}
	paused := &api.UpdateStatus{State: api.UpdatePaused, Message: "update paused: task web.1.x failed: exit code 1"}
	svc := api.Service{Name: "web", Replicas: api.ServiceReplicas{Desired: 2}}
	cases := []struct {
		name     string
		statuses []*api.UpdateStatus
		frames   [][]api.Task
		asked    bool
		want     string
		err      string
	}{
		{name: "start-first, converging on the new spec", statuses: []*api.UpdateStatus{updating, updating, updating, completed},
			frames: [][]api.Task{
				{outdated(1, "running", "running"), outdated(2, "running", "running")},
				{outdated(1, "running", "running"), task(1, "running", "starting", ""), outdated(2, "running", "running")},
				{task(1, "running", "running", ""), outdated(2, "running", "running")},
				{task(1, "running", "running", ""), task(2, "running", "running", "")},
			},
			want: "overall progress: 0 out of 2 tasks\n1/2: running (previous spec)\n2/2: running (previous spec)\n" +
				"1/2: starting\n" +
				"overall progress: 1 out of 2 tasks\n1/2: running\n" +
				"overall progress: 2 out of 2 tasks\n2/2: running\n" +
				"verify: waiting 1s to verify that tasks are stable...\nverify: Service converged\n"},
		{name: "rolled back by itself: an error", statuses: []*api.UpdateStatus{updating, rollingBack, rolledBack},
			frames: [][]api.Task{
				{task(1, "running", "failed", "unhealthy"), outdated(2, "running", "running")},
				{outdated(1, "running", "failed"), task(2, "running", "running", "")},
				{task(1, "running", "running", ""), task(2, "running", "running", "")},
			},
			want: "overall progress: 0 out of 2 tasks\n1/2: failed (unhealthy)\n2/2: running (previous spec)\n" +
				"overall progress: 1 out of 2 tasks\n1/2: failed (previous spec)\n2/2: running\n" +
				"rollback: update to version 2 failed: task web.1.x failed: unhealthy\n" +
				"overall progress: 2 out of 2 tasks\n1/2: running\n" +
				"rolled back: update to version 2 failed: task web.1.x failed: unhealthy\n" +
				"verify: waiting 1s to verify that tasks are stable...\nverify: Service converged\n",
			err: "service web rolled back: update to version 2 failed: task web.1.x failed: unhealthy"},
		{name: "a rollback asked for succeeds", statuses: []*api.UpdateStatus{rolledBack}, asked: true,
			frames: [][]api.Task{{task(1, "running", "running", ""), task(2, "running", "running", "")}},
			want: "overall progress: 2 out of 2 tasks\n1/2: running\n2/2: running\n" +
				"rolled back: update to version 2 failed: task web.1.x failed: unhealthy\n" +
				"verify: waiting 1s to verify that tasks are stable...\nverify: Service converged\n"},
		{name: "paused: an error that says why and what to do", statuses: []*api.UpdateStatus{paused},
			frames: [][]api.Task{{task(1, "running", "failed", "exit code 1"), outdated(2, "running", "running")}},
			want:   "overall progress: 0 out of 2 tasks\n1/2: failed (exit code 1)\n2/2: running (previous spec)\nupdate paused: task web.1.x failed: exit code 1\n",
			err: "service web: update paused: task web.1.x failed: exit code 1; roll it back with xo service rollback web, " +
				"or change its spec with xo service update web"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &updateFrames{fakeService: fakeService{svc: svc, frames: c.frames}, statuses: c.statuses}
			var out strings.Builder
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := waitUpdated(ctx, f, &out, "web", c.asked)
			if got := fmt.Sprint(err); (c.err == "" && err != nil) || (c.err != "" && got != c.err) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
			if out.String() != c.want {
				t.Fatalf("progress:\n%s\nwant:\n%s", out.String(), c.want)
			}
		})
	}
}
