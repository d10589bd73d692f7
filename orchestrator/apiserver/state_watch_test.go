package apiserver_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestWatchState(t *testing.T) {
	s := apitest.Store(t)
	apitest.Services(t, s)
	c := api.NewClient(apitest.Serve(t, s, apitest.Info))
	ctx := context.Background()
	st, err := c.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Index == "" {
		t.Fatal("no index")
	}
	var names []string
	for _, svc := range st.Services {
		names = append(names, svc.Name+"/"+svc.Mode)
	}
	if got := join(names); got != "api/replicated legacy/external mon/global" {
		t.Errorf("services = %s", got)
	}
	// Endpoints by network name, then address (numerically).
	var eps []string
	for _, ep := range st.Endpoints {
		s := ep.Network + "/" + ep.IP + "/" + ep.Node + "/" + ep.Service
		if ep.InService {
			s += "/in"
		}
		eps = append(eps, s)
	}
	want := "db/10.20.0.5/mm-ghost/ web/10.10.0.9/bravo/ web/10.10.0.10/bravo/legacy web/10.10.0.18/alpha/legacy/in"
	if got := join(eps); got != want {
		t.Errorf("endpoints = %s\nwant        %s", got, want)
	}
	var tasks []string
	for _, tk := range st.Tasks {
		tasks = append(tasks, tk.Name+"@"+tk.Node+":"+tk.State)
	}
	want = "api.1." + apitest.TaskAPI1Old + "@alpha:failed api.1." + apitest.TaskAPI1 + "@alpha:running api.2." +
		apitest.TaskAPI2 + "@bravo:running api.3." + apitest.TaskAPI3 + "@:pending mon.zz-node." + apitest.TaskMon + "@alpha:running"
	if got := join(tasks); got != want {
		t.Errorf("tasks = %s\nwant    %s", got, want)
	}
	again, err := c.Watch(ctx, "", 0)
	if err != nil || again.Index != st.Index {
		t.Fatalf("same state, index %s then %s (%v)", st.Index, again.Index, err)
	}
}

func TestWatchBlocksUntilChange(t *testing.T) {
	s := apitest.Store(t)
	apitest.Services(t, s)
	src := &signalingStore{Store: s, subscribed: make(chan struct{}, 1)}
	c := api.NewClient(apitest.Serve(t, src, apitest.Info))
	ctx := context.Background()
	st, err := c.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		st  api.WatchState
		err error
	}
	got := make(chan answer, 1)
	go func() {
		st, err := c.Watch(ctx, st.Index, time.Minute)
		got <- answer{st, err}
	}()
	<-src.subscribed
	apitest.Apply(t, s, state.SetEndpointStatus{Endpoints: []state.EndpointUpdate{{ID: "ep0003aaaa",
		ContainerID: "c0ep0003aaaa", Container: "web-1", Status: state.EndpointStatus{Service: "legacy"}}}})
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.st.Index == st.Index {
		t.Fatal("answered with the old index")
	}
	for _, ep := range a.st.Endpoints {
		if ep.InService {
			t.Errorf("%s still in service after it stopped", ep.IP)
		}
	}
}

func TestWatchWaitEndsWithSameIndex(t *testing.T) {
	s := apitest.Store(t)
	c := api.NewClient(apitest.Serve(t, s, apitest.Info))
	st, err := c.Watch(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Watch(context.Background(), st.Index, 20*time.Millisecond)
	if err != nil || again.Index != st.Index {
		t.Fatalf("after the wait: index %s, %v; want %s", again.Index, err, st.Index)
	}
}

func TestWatchOtherIndexAnswersAtOnce(t *testing.T) {
	s := apitest.Store(t)
	c := api.NewClient(apitest.Serve(t, s, apitest.Info))
	// A whole wait would make the test hang: the answer must not wait.
	st, err := c.Watch(context.Background(), "from-another-state", api.MaxWatchWait)
	if err != nil || st.Index == "" || st.Index == "from-another-state" {
		t.Fatalf("index %q, %v", st.Index, err)
	}
}

func TestWatchWithoutEventsAnswersAtOnce(t *testing.T) {
	s := apitest.Store(t)
	c := api.NewClient(apitest.Serve(t, viewOnly{s}, apitest.Info))
	st, err := c.Watch(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Watch(context.Background(), st.Index, api.MaxWatchWait)
	if err != nil || again.Index != st.Index {
		t.Fatalf("index %s, %v", again.Index, err)
	}
}

func TestWatchBadWait(t *testing.T) {
	srv := apiserver.New(apitest.Store(t), apitest.Info, nil, nil, nil)
	code, body := do(srv.Handler(), "GET", "/v1/watch?index=x&wait=soon", "")
	if code != 400 || !strings.Contains(body, `invalid wait \"soon\": want a duration such as 30s or 5m`) {
		t.Fatalf("%d %s", code, body)
	}
}

func TestShutdownEndsWatch(t *testing.T) {
	s := apitest.Store(t)
	src := &signalingStore{Store: s, subscribed: make(chan struct{}, 1)}
	socket := filepath.Join(t.TempDir(), "xo.sock")
	l, err := apiserver.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := apiserver.New(src, apitest.Info, nil, nil, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c := api.NewClient(socket)
	st, err := c.Watch(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		again, err := c.Watch(context.Background(), st.Index, api.MaxWatchWait)
		if err == nil && again.Index != st.Index {
			err = errors.New("index changed")
		}
		got <- err
	}()
	<-src.subscribed
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("watch cut by the shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// signalingStore tells the test when a watch has subscribed.
type signalingStore struct {
	*state.Store
	subscribed chan struct{}
}

func (s *signalingStore) Watch() (<-chan state.Event, func()) {
	ch, cancel := s.Store.Watch()
	select {
	case s.subscribed <- struct{}{}:
	default:
	}
	return ch, cancel
}

// viewOnly is a Reader without events.
type viewOnly struct{ s *state.Store }

func (v viewOnly) View(fn func(state.ReadTx)) { v.s.View(fn) }

func join(s []string) string { return strings.Join(s, " ") }
