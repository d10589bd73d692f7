package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// slowBackend answers "slow" once release is closed; started gets a
// value per request that arrived.
func slowBackend(t *testing.T) (b *testBackend, started chan struct{}, release chan struct{}) {
	started, release = make(chan struct{}, 10), make(chan struct{})
	b = startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow")
	})
	return b, started, release
}

func TestDrainOnUpdate(t *testing.T) {
	checkGoroutines(t)
	old, started, release := slowBackend(t)
	next := startBackend(t, named("next"))
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(old.addr())}))
	c := newClient(t)

	type result struct {
		code int
		body string
	}
	inflight := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", p.url("/slow"), nil)
		resp, err := c.Do(req)
		if err != nil {
			inflight <- result{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- result{resp.StatusCode, string(b)}
	}()
	<-started
	p.mu.Lock()
	oldBackend := p.backends[backendKey{"web", old.addr()}]
	p.mu.Unlock()

	p.update(t, oneUpstream(Upstream{Servers: servers(next.addr())}))
	if !oldBackend.peer.Draining() {
		t.Fatal("removed backend is not draining")
	}
	for range 5 {
		if code, body, _ := do(t, c, "GET", p.url("/"), ""); code != 200 || body != "next" {
			t.Fatalf("new request: %d %q, want the new backend", code, body)
		}
	}
	if n := old.hits.Load(); n != 1 {
		t.Fatalf("removed backend got %d requests, want only the one in flight", n)
	}
	if g := testutil.ToFloat64(p.m.active.WithLabelValues("web")); g != 1 {
		t.Errorf("active connections %v, want 1 (the draining request)", g)
	}

	close(release)
	if r := <-inflight; r.code != 200 || r.body != "slow" {
		t.Fatalf("in-flight request: %d %q, want it to finish", r.code, r.body)
	}
	eventually(t, "the drained backend's connections to close", func() bool {
		return oldBackend.pool.Stats().Open == 0
	})
	p.mu.Lock()
	_, still := p.backends[backendKey{"web", old.addr()}]
	p.mu.Unlock()
	if still {
		t.Error("drained backend still registered")
	}
	if n := testutil.CollectAndCount(p.m.backendUp); n != 1 {
		t.Errorf("%d backend_up series, want 1 (the drained one is gone)", n)
	}
}

// TestUpdateKeepsConnections: a client's keep-alive connection serves
// requests before, across and after updates.
func TestUpdateKeepsConnections(t *testing.T) {
	a := startBackend(t, named("a"))
	b := startBackend(t, named("b"))
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(a.addr())}))
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	get := func() string {
		t.Helper()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("on the kept connection: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body)
	}
	if got := get(); got != "a" {
		t.Fatalf("got %q", got)
	}
	p.update(t, oneUpstream(Upstream{Servers: servers(b.addr())}))
	if got := get(); got != "b" {
		t.Fatalf("after update: %q", got)
	}
	// A refused configuration changes nothing.
	err = p.Update(Config{Routes: []Route{{Path: "no-slash", Upstream: "nope"}}})
	if err == nil || !strings.Contains(err.Error(), "start it with '/'") || !strings.Contains(err.Error(), `upstream "nope" is not defined`) {
		t.Errorf("bad config: %v", err)
	}
	if got := get(); got != "b" {
		t.Fatalf("after a refused update: %q", got)
	}
	if n := testutil.ToFloat64(p.m.updates); n != 2 {
		t.Errorf("config updates %v, want 2", n)
	}
}

// TestReAddWhileDraining: a backend removed and added back before its
// requests end is the same backend (connections, health), not a new one.
func TestReAddWhileDraining(t *testing.T) {
	old, started, release := slowBackend(t)
	p := startProxy(t, Options{})
	cfg := oneUpstream(Upstream{Servers: servers(old.addr())})
	p.update(t, cfg)
	done := make(chan int, 1)
	c := newClient(t)
	go func() {
		resp, err := c.Get(p.url("/"))
		if err != nil {
			done <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-started
	p.mu.Lock()
	first := p.backends[backendKey{"web", old.addr()}]
	p.mu.Unlock()
	p.update(t, oneUpstream(Upstream{Name: "other"}))
	p.update(t, cfg)
	p.mu.Lock()
	again := p.backends[backendKey{"web", old.addr()}]
	p.mu.Unlock()
	if again != first || first.peer.Draining() {
		t.Errorf("re-added backend: same %v, draining %v; want the same, not draining", again == first, first.peer.Draining())
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("in-flight request: %d", code)
	}
	if first.pool.Stats().Idle != 1 {
		t.Errorf("the kept backend's connection was not kept for reuse: %+v", first.pool.Stats())
	}
}
