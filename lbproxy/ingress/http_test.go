package ingress

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/lbproxy/l7"
	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

// loopback listens on 127.0.0.1 for every port and remembers where.
type loopback struct {
	mu    sync.Mutex
	addrs map[uint16]string
}

func (l *loopback) listen(port uint16) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.addrs[port] = ln.Addr().String()
	l.mu.Unlock()
	return ln, nil
}

func (l *loopback) addr(port uint16) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addrs[port]
}

func backend(t *testing.T, name string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func get(addr, host, path string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.Status + " " + string(b), err
}

func TestFrontServesPorts(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	lb := &loopback{addrs: map[uint16]string{}}
	var dials []string
	var mu sync.Mutex
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dials = append(dials, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	reg := prometheus.NewRegistry()
	f := newFront(lb.listen, dial, reg, l7.Options{}, testLog(t))
	defer f.Shutdown(context.Background())
	cfg := l7.Config{
		Routes: []l7.Route{{Host: "app.example.com", Upstream: "api"}, {Path: "/blog", Upstream: "blog"}},
		Upstreams: []l7.Upstream{
			{Name: "api", Servers: []upstream.Server{{Addr: a}}},
			{Name: "blog", Servers: []upstream.Server{{Addr: b}}},
		},
	}
	if err := f.Apply(map[uint16]l7.Config{8081: cfg}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ host, path, want string }{
		{"app.example.com", "/", "200 OK a /"},
		{"other.example.com", "/blog/1", "200 OK b /blog/1"},
		{"other.example.com", "/", "404 Not Found"},
	} {
		got, err := get(lb.addr(8081), c.host, c.path)
		if err != nil || !strings.HasPrefix(got, c.want) {
			t.Fatalf("%s%s: %q %v, want %q", c.host, c.path, got, err, c.want)
		}
	}
	mu.Lock()
	if len(dials) != 2 {
		t.Fatalf("dials %q: the proxy must dial through the controller's dialer", dials)
	}
	mu.Unlock()
	if n := testutil.CollectAndCount(reg, "xo_lb_http_requests_total"); n == 0 {
		t.Fatal("no xo_lb_http_requests_total series")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP xo_lb_http_config_updates_total Configurations applied by Update.
# TYPE xo_lb_http_config_updates_total counter
xo_lb_http_config_updates_total{port="8081"} 1
`), "xo_lb_http_config_updates_total"); err != nil {
		t.Fatal(err)
	}
	if got := f.Listening(); len(got) != 1 || got[0] != 8081 {
		t.Fatalf("listening on %v", got)
	}

	// No service on the port any more: it stops listening.
	old := lb.addr(8081)
	if err := f.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := get(old, "app.example.com", "/"); err == nil {
		t.Fatal("the closed port still answers")
	}
	// And listens again, with the same server (metrics registered once).
	if err := f.Apply(map[uint16]l7.Config{8081: cfg}); err != nil {
		t.Fatal(err)
	}
	if got, err := get(lb.addr(8081), "app.example.com", "/"); err != nil || !strings.HasPrefix(got, "200 OK a") {
		t.Fatalf("after listening again: %q %v", got, err)
	}

	// A port that cannot be opened is reported, the others are served.
	busy := func(port uint16) (net.Listener, error) {
		if port == 80 {
			return nil, &net.OpError{Op: "listen", Err: io.ErrUnexpectedEOF}
		}
		return lb.listen(port)
	}
	f.listen = busy
	err := f.Apply(map[uint16]l7.Config{8081: cfg, 80: cfg})
	if err == nil || !strings.Contains(err.Error(), "HTTP port 80") || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("busy port: %v", err)
	}
}
