package template

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// sample is a cluster with service web on appnet: one task per address
// in ips, in service, plus web.9 (stopped) and a container on backnet.
func sample(ips ...string) api.WatchState {
	st := api.WatchState{
		Index:    "web:" + strings.Join(ips, ","),
		Nodes:    []api.WatchNode{{ID: "n1", Hostname: "h1", Role: "manager", Status: "ready"}, {ID: "n2", Hostname: "h2", Role: "worker", Status: "ready"}},
		Networks: []api.WatchNetwork{{ID: "net1", Name: "appnet", Subnet: "10.1.0.0/24"}, {ID: "net2", Name: "backnet", Subnet: "10.2.0.0/24"}},
		Services: []api.WatchService{{ID: "s1", Name: "web", Mode: "replicated", Image: "xo-demo:v1",
			VIPs: []api.WatchVIP{{NetworkID: "net1", Network: "appnet", Addr: "10.1.0.2"}}, Replicas: api.ServiceReplicas{Running: uint64(len(ips)), Desired: uint64(len(ips))}}},
	}
	for i, ip := range ips {
		id := fmt.Sprintf("t%d", i+1)
		name := fmt.Sprintf("web.%d.%s", i+1, id)
		node := []string{"h1", "h2"}[i%2]
		st.Tasks = append(st.Tasks, api.WatchTask{ID: id, Name: name, Service: "web", ServiceID: "s1", Slot: uint64(i + 1),
			Node: node, DesiredState: "running", State: "running"})
		st.Endpoints = append(st.Endpoints, api.WatchEndpoint{ID: "e" + id, Network: "appnet", NetworkID: "net1", IP: ip,
			Node: node, Container: name, Service: "web", TaskID: id, TaskName: name, Running: true, InService: true})
	}
	st.Tasks = append(st.Tasks, api.WatchTask{ID: "t9", Name: "web.9.t9", Service: "web", Slot: 9, DesiredState: "shutdown", State: "complete"})
	st.Endpoints = append(st.Endpoints,
		api.WatchEndpoint{ID: "e9", Network: "appnet", IP: "10.1.0.99", Node: "h1", Container: "web.9.t9", Service: "web", TaskID: "t9"},
		api.WatchEndpoint{ID: "eb", Network: "backnet", IP: "10.2.0.7", Node: "h2", Container: "db", Running: true, InService: true})
	return st
}

// upstreamTmpl is the template of the README's nginx example.
const upstreamTmpl = `upstream web {
{{- range service "web" "appnet" }}
    server {{ .Address }}:8080; # {{ .Name }} on {{ .Node }}
{{- else }}
    server 127.0.0.1:1 down;
{{- end }}
}
`

// writeTemplate writes a template file in dir and returns its path.
func writeTemplate(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeSource serves the state set last; a watch blocks until it differs
// from the index the caller has. Queued errors come first.
type fakeSource struct {
	mu      sync.Mutex
	st      api.WatchState
	changed chan struct{}
	errs    []error
	calls   int
}

func newFakeSource(st api.WatchState) *fakeSource {
	return &fakeSource{st: st, changed: make(chan struct{})}
}

func (s *fakeSource) set(st api.WatchState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeSource) fail(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, errs...)
}

func (s *fakeSource) Watch(ctx context.Context, index string, _ time.Duration) (api.WatchState, error) {
	for {
		s.mu.Lock()
		s.calls++
		if len(s.errs) > 0 {
			err := s.errs[0]
			s.errs = s.errs[1:]
			s.mu.Unlock()
			return api.WatchState{}, err
		}
		st, ch := s.st, s.changed
		s.mu.Unlock()
		if st.Index != index {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return api.WatchState{}, ctx.Err()
		case <-ch:
		}
	}
}

// fakeCommand records its runs and fails while it has errors queued.
type fakeCommand struct {
	mu   sync.Mutex
	runs int
	errs []error
	seen []string // the output file's content at each run
	file string
}

func (c *fakeCommand) Run(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.runs++
	if c.file != "" {
		b, _ := os.ReadFile(c.file)
		c.seen = append(c.seen, string(b))
	}
	if len(c.errs) > 0 {
		err := c.errs[0]
		c.errs = c.errs[1:]
		return err
	}
	return nil
}

func (c *fakeCommand) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs
}

var errReload = errors.New("nginx: [emerg] reload failed")

// fakeClock moves only when told. A timer due at or before now fires.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), timers: map[*fakeTimer]struct{}{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers[t] = struct{}{}
	return t
}

// Advance moves the clock and fires the timers now due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			delete(c.timers, t)
		}
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	return ok
}
