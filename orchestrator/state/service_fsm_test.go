package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// newService creates network "appnet" (ID net) on n1 and service web (ID s1).
func newService(t *testing.T, spec ServiceSpec) (*Store, *FSM) {
	t.Helper()
	s, f := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f, CreateService{Service: Service{ID: "s1", Spec: spec, CreatedAt: t0}})
	return s, f
}

func TestCreateService(t *testing.T) {
	s, f := newService(t, webSpec())
	var svc *Service
	s.View(func(tx ReadTx) { svc = tx.ServiceByName("web") })
	if svc == nil || svc.ID != "s1" || svc.SpecVersion != 1 || svc.TaskVersion != 1 || svc.Spec.Mode != ModeReplicated {
		t.Fatalf("stored %+v", svc)
	}
	if svc.Spec.Networks[0].Target != "net" {
		t.Fatalf("network stored as %q, want its ID", svc.Spec.Networks[0].Target)
	}
	if got := mustApply(t, f, CreateService{Service: Service{ID: "s1", Spec: webSpec()}}).(*Service); got != svc {
		t.Fatal("a retried create did not return the service")
	}
	cases := []struct {
		name string
		svc  Service
		want error
		msg  string
	}{
		{"taken name", Service{ID: "s2", Spec: webSpec()}, ErrConflict, "service web already exists; change it with xo service update web"},
		{"taken ID", Service{ID: "s1", Spec: ServiceSpec{Name: "api", Image: "x"}}, ErrConflict, "service ID s1 is taken"},
		{"no ID", Service{Spec: ServiceSpec{Name: "api", Image: "x"}}, ErrInvalid, "without ID"},
		{"invalid", Service{ID: "s3", Spec: ServiceSpec{Name: "api", Image: "x", Constraints: []string{"node.labels.ssd=true"}}},
			ErrInvalid, `--constraint "node.labels.ssd=true"`},
		{"unknown network", Service{ID: "s3", Spec: ServiceSpec{Name: "api", Image: "x", Networks: []NetworkAttachment{{Target: "nope"}}}},
			ErrNotFound, "--network nope: no such xoverlay network; create it first with docker network create -d xoverlay"},
		{"same network twice", Service{ID: "s3", Spec: ServiceSpec{Name: "api", Image: "x", Networks: []NetworkAttachment{{Target: "net"}, {Target: "appnet"}}}},
			ErrInvalid, "--network net and --network appnet are the same network"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := apply(t, f, CreateService{Service: c.svc})
			if !errors.Is(err, c.want) || !strings.Contains(Message(err), c.msg) {
				t.Fatalf("err = %v, want %v with %q", err, c.want, c.msg)
			}
			if n, _ := s.ServiceCounts(); n != 1 {
				t.Fatalf("%d services stored after an error", n)
			}
		})
	}
}

func TestAmbiguousAndDeletingNetworks(t *testing.T) {
	_, f := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f, CreateNetwork{ID: "net2", Subnet: "10.2.0.0/24"})
	mustApply(t, f, RenameNetwork{NetworkID: "net2", Name: "appnet"})
	spec := webSpec()
	if _, err := apply(t, f, CreateService{Service: Service{ID: "s1", Spec: spec}}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "2 networks have this name (net, net2)") {
		t.Fatalf("ambiguous name: %v", err)
	}
	mustApply(t, f, MarkNetworkDeleting{NetworkID: "net2"})
	spec.Networks[0].Target = "net2"
	if _, err := apply(t, f, CreateService{Service: Service{ID: "s1", Spec: spec}}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "being removed") {
		t.Fatalf("deleting network: %v", err)
	}
}

func TestExternalService(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	ext := Service{ID: "e1", Spec: ServiceSpec{Name: "web"}, External: true, CreatedAt: t0}
	mustApply(t, f, CreateService{Service: ext})
	// Another node's engine watcher saw the same label: it gets the service.
	if got := mustApply(t, f, CreateService{Service: Service{ID: "e2", Spec: ServiceSpec{Name: "web"}, External: true}}).(*Service); got.ID != "e1" {
		t.Fatalf("second external create returned %s", got.ID)
	}
	if _, err := apply(t, f, CreateService{Service: Service{ID: "e3", Spec: ServiceSpec{Name: "a.b"}, External: true}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad external name: %v", err)
	}
	if _, err := apply(t, f, UpdateService{ID: "e1", Spec: webSpec()}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "run xo service create --name web to manage it") {
		t.Fatalf("update of an external service: %v", err)
	}
	if _, err := apply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "e1", Slot: 1}}}); err != nil {
		t.Fatal(err)
	}
	// A managed create adopts it: same ID, now managed.
	got := mustApply(t, f, CreateService{Service: Service{ID: "s9", Spec: webSpec(), CreatedAt: t0}}).(*Service)
	if got.ID != "e1" || got.External || got.Spec.Image != "nginx:1.27" || got.SpecVersion != 2 || got.TaskVersion != 2 {
		t.Fatalf("adopted %+v", got)
	}
	if n, tasks := s.ServiceCounts(); n != 1 || tasks != 0 {
		t.Fatalf("services %d tasks %d: want 1 and no task of an external service", n, tasks)
	}
}

func TestUpdateService(t *testing.T) {
	s, f := newService(t, webSpec())
	scaled := webSpec()
	scaled.Replicas = 6
	v := mustApply(t, f, UpdateService{ID: "s1", Spec: scaled, Version: 1, At: t0}).(*Service)
	if v.SpecVersion != 2 || v.TaskVersion != 1 || v.PreviousSpec.Replicas != 3 || v.Spec.Replicas != 6 {
		t.Fatalf("scale: %+v (a scale must not make tasks outdated)", v)
	}
	if _, err := apply(t, f, UpdateService{ID: "s1", Spec: scaled, Version: 1}); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), "changed since version 1 (it is at version 2)") {
		t.Fatalf("stale version: %v", err)
	}
	if same := mustApply(t, f, UpdateService{ID: "s1", Spec: scaled}).(*Service); same.SpecVersion != 2 {
		t.Fatal("an update that changes nothing bumped the version")
	}
	if forced := mustApply(t, f, UpdateService{ID: "s1", Spec: scaled, Force: true}).(*Service); forced.TaskVersion != 3 {
		t.Fatalf("force: %+v", forced)
	}
	img := scaled
	img.Image = "nginx:1.28"
	up := mustApply(t, f, UpdateService{ID: "s1", Spec: img}).(*Service)
	if up.TaskVersion != 4 || !up.Outdated(&Task{SpecVersion: 3}) || up.Outdated(&Task{SpecVersion: 4}) {
		t.Fatalf("image update: %+v", up)
	}
	for _, c := range []struct {
		edit func(*ServiceSpec)
		want error
		msg  string
	}{
		{func(s *ServiceSpec) { s.Name = "api" }, ErrInvalid, "renaming service web is not supported"},
		{func(s *ServiceSpec) { s.Mode, s.Replicas = ModeGlobal, 0 }, ErrInvalid, "--mode cannot change from replicated to global"},
		{func(s *ServiceSpec) { s.Image = "" }, ErrInvalid, "IMAGE: required"},
	} {
		bad := img
		c.edit(&bad)
		if _, err := apply(t, f, UpdateService{ID: "s1", Spec: bad}); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("err = %v, want %q", err, c.msg)
		}
	}
	if _, err := apply(t, f, UpdateService{ID: "nope", Spec: img}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing service: %v", err)
	}
	s.View(func(tx ReadTx) {
		if tx.Service("s1").Spec.Image != "nginx:1.28" {
			t.Fatal("a failed update changed the service")
		}
	})
}

func TestRemoveService(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{
		{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0},
		{ID: "t2", ServiceID: "s1", Slot: 2, CreatedAt: t0},
	}})
	mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{{ID: "t2", NodeID: "n1", Status: &TaskStatus{State: TaskAssigned}}}})
	events, cancel := s.Watch()
	defer cancel()
	mustApply(t, f, RemoveService{ID: "s1"})
	mustApply(t, f, RemoveService{ID: "s1"}) // retried: no error
	s.View(func(tx ReadTx) {
		if tx.Service("s1") != nil || tx.ServiceByName("web") != nil || tx.Task("t1") != nil {
			t.Fatal("service or its pending task kept")
		}
		if t2 := tx.Task("t2"); t2 == nil || t2.DesiredState != TaskRemove || len(tx.Tasks("s1")) != 1 {
			t.Fatalf("assigned task: %+v, want kept with desired state remove for its executor", t2)
		}
	})
	want := []Event{{"task", "delete", "t1", 0}, {"task", "update", "t2", 0}, {"service", "delete", "s1", 0}}
	for _, w := range want {
		if e := <-events; e != w {
			t.Fatalf("event %+v, want %+v", e, w)
		}
	}
	mustApply(t, f, CreateService{Service: Service{ID: "s2", Spec: webSpec()}}) // the name is free again
	if n := mustApply(t, f, DeleteTasks{IDs: []string{"t2"}}); n != 1 {
		t.Fatalf("deleted %v", n)
	}
}

func TestSnapshotWithServices(t *testing.T) {
	s, f := newService(t, webSpec())
	mustApply(t, f, CreateTasks{Tasks: []Task{{ID: "t1", ServiceID: "s1", Slot: 1, CreatedAt: t0}}})
	mustApply(t, f, UpdateTasks{Updates: []TaskUpdate{{ID: "t1", NodeID: "n1", Status: &TaskStatus{State: TaskAssigned, Timestamp: t0}}}})
	b := persist(t, f)
	s2 := restored(t, b)
	if !reflect.DeepEqual(s.data, s2.data) || !reflect.DeepEqual(s.byName, s2.byName) || !reflect.DeepEqual(s.svcTasks, s2.svcTasks) {
		t.Fatalf("restored state differs:\n%+v\n%+v", s.data, s2.data)
	}

	// A snapshot written before services existed still loads.
	var old map[string]json.RawMessage
	if err := json.Unmarshal(b, &old); err != nil {
		t.Fatal(err)
	}
	delete(old, "services")
	delete(old, "tasks")
	b, _ = json.Marshal(old)
	s3 := restored(t, b)
	mustApply(t, NewFSM(s3), CreateService{Service: Service{ID: "s1", Spec: webSpec()}})
	if n, _ := s3.ServiceCounts(); n != 1 {
		t.Fatal("no service after restoring an old snapshot")
	}
}

// persist writes f's snapshot as raft would.
func persist(t *testing.T, f *FSM) []byte {
	t.Helper()
	sink := &memSink{}
	snap, err := f.Snapshot()
	if err == nil {
		err = snap.Persist(sink)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// restored is a new store restored from a snapshot.
func restored(t *testing.T, b []byte) *Store {
	t.Helper()
	s := NewStore()
	if err := NewFSM(s).Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	return s
}
