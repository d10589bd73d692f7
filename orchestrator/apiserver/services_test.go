package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// servicesClient serves the sample cluster with its services and a fake
// Ops.
func servicesClient(t *testing.T) (*api.Client, *apitest.Ops) {
	t.Helper()
	s := apitest.Store(t)
	apitest.Services(t, s)
	ops := apitest.NewOps(s)
	return api.NewClient(apitest.ServeOps(t, s, apitest.Info, ops)), ops
}

func TestListServices(t *testing.T) {
	c, _ := servicesClient(t)
	svcs, err := c.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 3 || svcs[0].Name != "api" || svcs[1].Name != "legacy" || svcs[2].Name != "mon" {
		t.Fatalf("services = %+v", svcs)
	}
	apiSvc, legacy, mon := svcs[0], svcs[1], svcs[2]
	// api.2 runs on bravo, which is down: not counted.
	if apiSvc.ID != apitest.ServiceID("api") || apiSvc.Mode != "replicated" || apiSvc.Replicas.String() != "1/3" ||
		apiSvc.Image != "nginx:1.27" || apiSvc.Version != 1 || apiSvc.External {
		t.Errorf("api = %+v", apiSvc)
	}
	wantPort := api.PortConfig{Target: 80, Published: 8080, Protocol: "tcp", Mode: "ingress"}
	if len(apiSvc.Ports) != 1 || apiSvc.Ports[0] != wantPort || apiSvc.Spec.Ports[0] != wantPort {
		t.Errorf("api ports = %+v", apiSvc.Ports)
	}
	if n := apiSvc.Spec.Networks; len(n) != 1 || n[0].Target != apitest.WebID || n[0].Aliases[0] != "www" {
		t.Errorf("api networks = %+v, want web's ID", n)
	}
	if apiSvc.Spec.Resources.Reservations.MemoryBytes != 1<<30 || apiSvc.Spec.EndpointMode != "vip" ||
		apiSvc.Spec.RestartPolicy.Condition != "any" {
		t.Errorf("api spec = %+v", apiSvc.Spec)
	}
	// Two hand-run containers, one running.
	if legacy.Mode != "external" || !legacy.External || legacy.Replicas.String() != "1/2" {
		t.Errorf("legacy = %+v", legacy)
	}
	// Global: alpha is the only manager that is up and active.
	if mon.Mode != "global" || mon.Replicas.String() != "1/1" || mon.Spec.Constraints[0] != "node.role==manager" {
		t.Errorf("mon = %+v", mon)
	}
}

func TestServiceRefs(t *testing.T) {
	s := apitest.Store(t)
	apitest.Services(t, s)
	apitest.Apply(t, s,
		state.CreateService{Service: state.Service{ID: "ab1xxxxxxxxxxxxxxxxxxxxxx", Spec: state.ServiceSpec{Name: "one", Image: "x"}}},
		state.CreateService{Service: state.Service{ID: "ab2xxxxxxxxxxxxxxxxxxxxxx", Spec: state.ServiceSpec{Name: "two", Image: "x"}}},
	)
	c := api.NewClient(apitest.Serve(t, s, apitest.Info))
	ctx := context.Background()
	for ref, want := range map[string]string{
		"api":                        apitest.ServiceID("api"),
		apitest.ServiceID("mon"):     apitest.ServiceID("mon"),
		apitest.ServiceID("mon")[:6]: apitest.ServiceID("mon"),
		"ab2":                        "ab2xxxxxxxxxxxxxxxxxxxxxx",
	} {
		if svc, err := c.Service(ctx, ref); err != nil || svc.ID != want {
			t.Errorf("Service(%q) = %s, %v; want %s", ref, svc.ID, err, want)
		}
	}
	_, err := c.Service(ctx, "ab")
	if want := `service ID prefix "ab" is ambiguous: it matches ab1xxxxxxxxx (one), ab2xxxxxxxxx (two); use a longer prefix`; !errors.Is(err, api.ErrInvalid) || err.Error() != want {
		t.Errorf("ambiguous: %v", err)
	}
	if _, err := c.Service(ctx, "nope"); !errors.Is(err, api.ErrNotFound) || err.Error() != `service "nope" not found` {
		t.Errorf("missing: %v", err)
	}
	if _, err := c.ServiceTasks(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("tasks of a missing service: %v", err)
	}
}

func TestServiceTasks(t *testing.T) {
	c, _ := servicesClient(t)
	tasks, err := c.ServiceTasks(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range tasks {
		got = append(got, fmt.Sprintf("%s %s %s/%s %q", tk.Name, tk.Node, tk.DesiredState, tk.State, tk.Err))
	}
	want := []string{
		"api.1." + apitest.TaskAPI1Old + ` alpha shutdown/failed "task: non-zero exit (3)"`,
		"api.1." + apitest.TaskAPI1 + ` alpha running/running ""`,
		"api.2." + apitest.TaskAPI2 + ` bravo running/running ""`,
		"api.3." + apitest.TaskAPI3 + `  running/pending "` + apitest.PendingErr + `"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tasks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	one := tasks[1]
	if one.ID != apitest.TaskAPI1 || one.ServiceID != apitest.ServiceID("api") || one.Service != "api" || one.Slot != 1 ||
		one.NodeID != apitest.AlphaNode || one.Image != "nginx:1.27" || one.ContainerID != "c-api1" ||
		!one.Timestamp.Equal(apitest.Created.Add(time.Hour+6*time.Second)) || one.SlotName() != "api.1" {
		t.Errorf("api.1 = %+v", one)
	}
	if tasks[0].ExitCode != 3 {
		t.Errorf("old api.1 exit code %d", tasks[0].ExitCode)
	}
	mon, err := c.ServiceTasks(context.Background(), "mon")
	if err != nil || len(mon) != 1 || mon[0].Name != "mon.zz-node."+apitest.TaskMon || mon[0].SlotName() != "mon.zz-node" {
		t.Errorf("mon tasks = %+v, %v", mon, err)
	}
}

func TestServiceCreate(t *testing.T) {
	c, ops := servicesClient(t)
	ctx := context.Background()
	svc, err := c.ServiceCreate(ctx, api.ServiceSpec{
		Name: "web", Image: "demoapp", Replicas: 2,
		Networks: []api.NetworkAttachment{{Target: "3f9a", Aliases: []string{"www"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if svc.ID != apitest.ServiceID("web") || svc.Replicas.String() != "0/2" || svc.Spec.Networks[0].Target != apitest.WebID ||
		!svc.CreatedAt.Equal(apitest.Created.Add(2*time.Hour)) {
		t.Errorf("created = %+v", svc)
	}
	// The network prefix was resolved and the defaults filled in before Ops.
	want := `ServiceCreate {"name":"web","image":"demoapp","mode":"replicated","replicas":2,"networks":[{"target":"` +
		apitest.WebID + `","aliases":["www"]}],"restart_policy":{"condition":"any"},"endpoint_mode":"vip"}`
	if calls := ops.Calls(); len(calls) != 1 || calls[0] != want {
		t.Errorf("calls = %q\nwant %q", calls, want)
	}
	// A managed service adopts the external one of its name, and its ID.
	svc, err = c.ServiceCreate(ctx, api.ServiceSpec{Name: "legacy", Image: "legacy:2"})
	if err != nil || svc.ID != apitest.LegacyID || svc.External || svc.Mode != "replicated" || svc.Version != 2 {
		t.Errorf("adopt legacy = %+v, %v", svc, err)
	}
}

func TestServiceCreateRefused(t *testing.T) {
	s := apitest.Store(t)
	apitest.Services(t, s)
	capacity(t, s, map[string]state.Resources{
		apitest.AlphaNode: {NanoCPUs: 4e9, MemoryBytes: 16 << 30},
		apitest.BravoNode: {NanoCPUs: 8e9, MemoryBytes: 8 << 30},
		apitest.IdleNode:  {NanoCPUs: 2e9, MemoryBytes: 4 << 30},
	})
	ops := apitest.NewOps(s)
	h := apiserver.New(s, apitest.Info, ops, nil, nil).Handler()
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{``, 400, "a service spec is required"},
		{`{"name":"x","image":"x","bogus":1}`, 400, `malformed request body: json: unknown field "bogus"`},
		{`{"name":"x"}`, 400, "IMAGE: required"},
		{`{"name":"x","image":"x","constraints":["node.labels.ssd=true"]}`, 400,
			`--constraint "node.labels.ssd=true": want KEY==VALUE or KEY!=VALUE`},
		{`{"name":"x.y","image":"x","mode":"global","replicas":2}`, 400,
			`--name "x.y": want letters, digits, '-' and '_', starting and ending with a letter or digit, at most 63 characters; ` +
				"--replicas: only for --mode replicated, a global service runs one task per node"},
		{`{"name":"x","image":"x","networks":[{"target":"nope"}]}`, 404,
			"--network nope: no such xoverlay network; create it first with docker network create -d xoverlay --ipam-driver xoverlay nope"},
		{`{"name":"x","image":"x","networks":[{"target":"3f"}]}`, 400,
			`--network 3f: network ID prefix "3f" is ambiguous: it matches 3fb2d4e6f8a0 (db), 3f9a1c0e7b2d (web); use a longer prefix`},
		{`{"name":"x","image":"x","networks":[{"target":"web"},{"target":"` + apitest.WebID + `"}]}`, 400,
			"--network web and --network " + apitest.WebID + " are the same network"},
		{`{"name":"x","image":"x","resources":{"reservations":{"nano_cpus":9000000000,"memory_bytes":34359738368}}}`, 400,
			"--reserve-cpu 9: more than any node has (the largest has 8); " +
				"--reserve-memory 32GiB: more than any node has (the largest has 16GiB)"},
		{`{"name":"api","image":"x"}`, 409,
			"service api already exists; scale it with xo service scale api=N, remove it with xo service rm api, or choose another --name"},
	} {
		code, body := do(h, "POST", "/v1/services", tc.body)
		var e api.Error
		_ = json.Unmarshal([]byte(body), &e)
		if code != tc.code || e.Message != tc.msg {
			t.Errorf("create %s = %d %s\nwant %d %s", tc.body, code, body, tc.code, tc.msg)
		}
	}
	if calls := ops.Calls(); len(calls) != 0 {
		t.Errorf("calls = %q, want none", calls)
	}
	if n, _ := s.ServiceCounts(); n != 3 {
		t.Errorf("%d services stored", n)
	}
	// Reservations that fit the largest node pass.
	if code, body := do(h, "POST", "/v1/services", `{"name":"big","image":"x","resources":{"reservations":{"nano_cpus":8000000000}}}`); code != 201 {
		t.Errorf("fitting reservation = %d %s", code, body)
	}
}

// capacity records what each node reports it can hold.
func capacity(t *testing.T, s *state.Store, caps map[string]state.Resources) {
	t.Helper()
	for id, c := range caps {
		var n state.Node
		s.View(func(tx state.ReadTx) { n = *tx.Node(id) })
		n.Capacity = c
		apitest.Apply(t, s, state.RegisterNode{Node: n})
	}
}

func TestServiceUpdateAndRemove(t *testing.T) {
	c, ops := servicesClient(t)
	ctx := context.Background()
	svc, err := c.Service(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	spec := svc.Spec
	spec.Replicas = 5
	up, err := c.ServiceUpdate(ctx, "api", api.ServiceUpdateRequest{Version: svc.Version, Spec: spec})
	if err != nil || up.Version != 2 || up.Replicas.Desired != 5 || !up.UpdatedAt.Equal(apitest.Created.Add(3*time.Hour)) {
		t.Fatalf("update = %+v, %v", up, err)
	}
	// The same version again: someone changed it since.
	_, err = c.ServiceUpdate(ctx, "api", api.ServiceUpdateRequest{Version: svc.Version, Spec: spec})
	if !errors.Is(err, api.ErrConflict) || err.Error() != "service api changed since version 1 (it is at version 2); read it again and retry" {
		t.Errorf("stale version: %v", err)
	}
	spec.Image = ""
	if _, err := c.ServiceUpdate(ctx, "api", api.ServiceUpdateRequest{Version: 2, Spec: spec}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("invalid update: %v", err)
	}
	if _, err := c.ServiceUpdate(ctx, "legacy", api.ServiceUpdateRequest{Spec: api.ServiceSpec{Image: "x"}}); !errors.Is(err, api.ErrConflict) ||
		!strings.Contains(err.Error(), "service legacy is external") {
		t.Errorf("update an external service: %v", err)
	}
	if err := c.ServiceRemove(ctx, "mon"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Service(ctx, "mon"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("after rm: %v", err)
	}
	if err := c.ServiceRemove(ctx, "mon"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("rm again: %v", err)
	}
	want := []string{
		"ServiceUpdate " + apitest.ServiceID("api") + " 1 5",
		"ServiceUpdate " + apitest.ServiceID("api") + " 1 5",
		"ServiceUpdate " + apitest.LegacyID + " 0 0",
		"ServiceRemove " + apitest.ServiceID("mon"),
	}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s", strings.Join(got, "\n"))
	}
}

func TestServiceWritesWithoutOps(t *testing.T) {
	s := apitest.Store(t)
	apitest.Services(t, s)
	h := apiserver.New(s, apitest.Info, nil, nil, nil).Handler()
	for _, r := range []string{
		"POST /v1/services", "POST /v1/services/api/update", "DELETE /v1/services/api",
		"GET /v1/services/api/logs", "GET /v1/tasks/" + apitest.TaskAPI1 + "/logs",
	} {
		method, path, _ := strings.Cut(r, " ")
		if code, body := do(h, method, path, "{}"); code != 501 {
			t.Errorf("%s = %d %s, want 501", r, code, body)
		}
	}
	for _, path := range []string{"/v1/services", "/v1/services/api", "/v1/services/api/tasks"} {
		if code, body := do(h, "GET", path, ""); code != 200 {
			t.Errorf("GET %s = %d %s", path, code, body)
		}
	}
}
