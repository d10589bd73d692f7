package state

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func getService(s *Store, id string) (svc *Service) {
	s.View(func(tx ReadTx) { svc = tx.Service(id) })
	return svc
}

func getTask(s *Store, id string) (t *Task) {
	s.View(func(tx ReadTx) { t = tx.Task(id) })
	return t
}

func TestUpdateStartsRollingUpdate(t *testing.T) {
	s, f := newService(t, webSpec())
	v1 := getService(s, "s1")
	if v1.SpecDigest == "" || v1.UpdateStatus != nil {
		t.Fatalf("created: digest %q, status %+v", v1.SpecDigest, v1.UpdateStatus)
	}
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0}}})
	if tk := getTask(s, "t1"); tk.SpecDigest != v1.SpecDigest {
		t.Fatalf("task digest %q, want the service's %q", tk.SpecDigest, v1.SpecDigest)
	}

	at := t0.Add(time.Minute)
	cases := []struct {
		name    string
		edit    func(*ServiceSpec)
		force   bool
		updates bool // starts a rolling update: tasks are outdated
	}{
		{"scale", func(s *ServiceSpec) { s.Replicas = 5 }, false, false},
		{"policy only", func(s *ServiceSpec) {
			s.UpdateConfig = &UpdateConfig{Parallelism: 2, Order: OrderStartFirst}
			s.RollbackConfig = &UpdateConfig{Parallelism: 0}
		}, false, false},
		{"image", func(s *ServiceSpec) { s.Image = "nginx:1.28" }, false, true},
		{"force", func(*ServiceSpec) {}, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, f := newService(t, webSpec())
			mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0}}})
			old := getService(s, "s1")
			spec := webSpec()
			c.edit(&spec)
			n := mustApply(t, f, UpdateService{ID: "s1", Spec: spec, Version: 1, Force: c.force, At: at}).(*Service)
			if n.PreviousSpec == nil || !reflect.DeepEqual(*n.PreviousSpec, old.Spec) {
				t.Fatalf("previous spec %+v, want %+v", n.PreviousSpec, old.Spec)
			}
			outdated := n.Outdated(getTask(s, "t1"))
			if outdated != c.updates || (n.SpecDigest != old.SpecDigest) != c.updates {
				t.Fatalf("outdated %v, digest %s -> %s; want a rolling update: %v", outdated, old.SpecDigest, n.SpecDigest, c.updates)
			}
			want := (*UpdateStatus)(nil)
			if c.updates {
				want = &UpdateStatus{State: UpdateUpdating, StartedAt: at, Message: "update in progress"}
			}
			if !reflect.DeepEqual(n.UpdateStatus, want) {
				t.Fatalf("status %+v, want %+v", n.UpdateStatus, want)
			}
		})
	}
}

func TestDigestFollowsContent(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "a", ServiceID: "s1", Slot: 1, CreatedAt: t0}}})
	b := webSpec()
	b.Image = "nginx:2"
	mustApply(t, f, UpdateService{ID: "s1", Spec: b})
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "b", ServiceID: "s1", Slot: 2, CreatedAt: t0}}})
	svc := getService(s, "s1")
	if !svc.Outdated(getTask(s, "a")) || svc.Outdated(getTask(s, "b")) {
		t.Fatal("after A -> B: want a outdated, b not")
	}
	if got := svc.TaskSpec(getTask(s, "a")).Image; got != "nginx:1.27" {
		t.Fatalf("task a's spec has image %s, want the previous spec's", got)
	}
	mustApply(t, f, UpdateService{ID: "s1", Spec: webSpec()}) // back to A by hand
	svc = getService(s, "s1")
	if svc.Outdated(getTask(s, "a")) || !svc.Outdated(getTask(s, "b")) {
		t.Fatal("after B -> A: want b outdated, a not")
	}
	if got := svc.TaskSpec(getTask(s, "b")).Image; got != "nginx:2" {
		t.Fatalf("task b's spec has image %s", got)
	}
	// Objects from before digests compare versions.
	old := &Service{SpecVersion: 3, TaskVersion: 2}
	if !old.Outdated(&Task{SpecVersion: 1}) || old.Outdated(&Task{SpecVersion: 2}) {
		t.Fatal("version fallback")
	}
}

func TestRollbackService(t *testing.T) {
	_, f := newService(t, webSpec())
	if _, err := apply(t, f, RollbackService{ID: "s1"}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "service web has no previous spec to roll back to") {
		t.Fatalf("rollback without previous spec: %v", err)
	}
	b := webSpec()
	b.Image = "nginx:2"
	b.RollbackConfig = &UpdateConfig{Parallelism: 0, Order: OrderStartFirst}
	mustApply(t, f, UpdateService{ID: "s1", Spec: b, At: t0})
	if _, err := apply(t, f, RollbackService{ID: "s1", Version: 1}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "changed since version 1 (it is at version 2)") {
		t.Fatalf("stale rollback: %v", err)
	}
	at := t0.Add(time.Minute)
	n := mustApply(t, f, RollbackService{ID: "s1", Version: 2, Reason: "task x failed: unhealthy", At: at}).(*Service)
	if n.Spec.Image != "nginx:1.27" || n.PreviousSpec.Image != "nginx:2" || n.SpecVersion != 3 || n.TaskVersion != 3 {
		t.Fatalf("rolled back to %+v (previous %+v), version %d/%d", n.Spec, n.PreviousSpec, n.SpecVersion, n.TaskVersion)
	}
	want := UpdateStatus{State: UpdateRollbackStarted, StartedAt: at, Message: "task x failed: unhealthy"}
	if *n.UpdateStatus != want || n.SpecDigest != n.Spec.TaskDigest() {
		t.Fatalf("status %+v, digest %s", n.UpdateStatus, n.SpecDigest)
	}
	n = mustApply(t, f, RollbackService{ID: "s1", At: at}).(*Service) // a second one undoes it
	if n.Spec.Image != "nginx:2" || n.UpdateStatus.Message != "rollback requested" {
		t.Fatalf("second rollback: %+v %+v", n.Spec, n.UpdateStatus)
	}
}

func TestSetUpdateStatus(t *testing.T) {
	s, f := newService(t, webSpec())
	digest := getService(s, "s1").SpecDigest
	done := UpdateStatus{State: UpdateCompleted, StartedAt: t0, CompletedAt: t0.Add(time.Second), Message: "update completed"}
	mustApply(t, f, SetUpdateStatus{ID: "s1", Digest: "other", Status: done})
	if getService(s, "s1").UpdateStatus != nil {
		t.Fatal("a status decided for another spec was recorded")
	}
	mustApply(t, f, SetUpdateStatus{ID: "s1", Digest: digest, Status: done})
	if got := getService(s, "s1").UpdateStatus; got == nil || *got != done {
		t.Fatalf("status %+v", got)
	}
	if _, err := apply(t, f, SetUpdateStatus{ID: "s1", Digest: digest, Status: UpdateStatus{State: "bogus"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bogus state: %v", err)
	}
	mustApply(t, f, SetUpdateStatus{ID: "gone", Digest: digest, Status: done})
}

func TestDrainTasks(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{
		{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0}, {ID: "t2", ServiceID: "s1", Slot: 2, CreatedAt: t0}}})
	for i, id := range []string{"t1", "t2"} {
		ip := []string{"10.1.0.2", "10.1.0.3"}[i]
		mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep-" + id, NetworkID: "net", Node: "n1", IP: ip}})
		mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{{ID: "ep-" + id, ContainerID: "c-" + id,
			Status: EndpointStatus{Running: true, Service: "web", Task: id}}}})
	}
	inService := func(ep string) (ok bool) {
		s.View(func(tx ReadTx) { ok = tx.InService(tx.Endpoint(ep)) })
		return ok
	}
	if !inService("ep-t1") || !inService("ep-t2") {
		t.Fatal("running endpoints out of service")
	}
	events, cancel := s.Watch()
	defer cancel()
	if n := mustApply(t, f, DrainTasks{IDs: []string{"t1", "nope"}}); n != 1 {
		t.Fatalf("drained %v tasks", n)
	}
	if !getTask(s, "t1").Draining || inService("ep-t1") || !inService("ep-t2") {
		t.Fatal("t1 not drained alone")
	}
	got := map[string]bool{}
	for len(events) > 0 {
		e := <-events
		got[e.Kind+" "+e.ID] = true
	}
	if !got["task t1"] || !got["endpoint ep-t1"] || got["endpoint ep-t2"] {
		t.Fatalf("events %v: want the task and its endpoint", got)
	}
	if n := mustApply(t, f, DrainTasks{IDs: []string{"t1"}}); n != 0 {
		t.Fatal("drained twice")
	}
	mustApply(t, f, DrainTasks{IDs: []string{"t1"}, Undo: true})
	if getTask(s, "t1").Draining || !inService("ep-t1") {
		t.Fatal("undo left t1 drained")
	}
	// A task wanted stopped is out of service before its container stops,
	// and is not drained any more.
	mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{{ID: "t2", DesiredState: TaskShutdown}}})
	if inService("ep-t2") {
		t.Fatal("a task wanted stopped is in service")
	}
	if n := mustApply(t, f, DrainTasks{IDs: []string{"t2"}}); n != 0 {
		t.Fatal("a stopping task was drained")
	}
}

func TestUpdateSnapshotRoundTrip(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0}}})
	b := webSpec()
	b.Image = "nginx:2"
	b.UpdateConfig = &UpdateConfig{Parallelism: 2, Delay: time.Second, FailureAction: FailureRollback, Monitor: time.Second,
		MaxFailureRatio: 0.5, Order: OrderStartFirst}
	mustApply(t, f, UpdateService{ID: "s1", Spec: b, At: t0})
	mustApply(t, f, DrainTasks{IDs: []string{"t1"}})
	s2 := restored(t, persist(t, f))
	if !reflect.DeepEqual(s.data, s2.data) {
		t.Fatalf("restored state differs:\n%+v\n%+v", s.data, s2.data)
	}
	svc := getService(s2, "s1")
	if svc.UpdateStatus == nil || svc.PreviousSpec == nil || svc.Spec.UpdateConfig.MaxFailureRatio != 0.5 ||
		!getTask(s2, "t1").Draining {
		t.Fatalf("restored %+v", svc)
	}
}

func TestValidatePolicies(t *testing.T) {
	cases := []struct {
		name           string
		update, rollbk *UpdateConfig
		want           string
	}{
		{"defaults", &UpdateConfig{}, &UpdateConfig{}, ""},
		{"full", &UpdateConfig{Parallelism: 0, Delay: time.Second, FailureAction: FailureRollback, Monitor: time.Minute,
			MaxFailureRatio: 1, Order: OrderStartFirst}, &UpdateConfig{FailureAction: FailureContinue}, ""},
		{"order", &UpdateConfig{Order: "random"}, nil, `--update-order "random": want start-first or stop-first`},
		{"action", &UpdateConfig{FailureAction: "retry"}, nil, `--update-failure-action "retry": want pause, continue or rollback`},
		{"rollback of a rollback", nil, &UpdateConfig{FailureAction: FailureRollback},
			"--rollback-failure-action rollback: want pause or continue (a rollback cannot roll back)"},
		{"ratio", nil, &UpdateConfig{MaxFailureRatio: 1.5}, "--rollback-max-failure-ratio 1.5: want a number from 0 to 1"},
		{"negative", &UpdateConfig{Delay: -time.Second, Monitor: -time.Second}, nil,
			"--update-delay -1s: must not be negative; --update-monitor -1s: must not be negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := webSpec()
			spec.UpdateConfig, spec.RollbackConfig = c.update, c.rollbk
			err := spec.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if got := (ServiceSpec{}).UpdatePolicy(); got != DefaultUpdateConfig() {
		t.Fatalf("default policy %+v", got)
	}
	filled := ServiceSpec{UpdateConfig: &UpdateConfig{Parallelism: 3}}.WithDefaults().UpdatePolicy()
	if filled.Order != OrderStopFirst || filled.FailureAction != FailurePause || filled.Parallelism != 3 {
		t.Fatalf("filled policy %+v", filled)
	}
}
