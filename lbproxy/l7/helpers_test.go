package l7

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

// testProxy is a Server serving on a loopback listener.
type testProxy struct {
	*Server
	addr string
	reg  *prometheus.Registry
}

// startProxy starts a Server with opts (a registry and a debug logger
// are added) on 127.0.0.1, closed at the end of the test.
func startProxy(t *testing.T, opts Options) *testProxy {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	if opts.Logger == nil && os.Getenv("L7_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return &testProxy{Server: s, addr: ln.Addr().String(), reg: reg}
}

func (p *testProxy) url(path string) string { return "http://" + p.addr + path }

// update applies cfg or fails the test.
func (p *testProxy) update(t *testing.T, cfg Config) {
	t.Helper()
	if err := p.Update(cfg); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// oneUpstream is a configuration routing everything to upstream "web".
func oneUpstream(u Upstream) Config {
	if u.Name == "" {
		u.Name = "web"
	}
	return Config{Routes: []Route{{Upstream: u.Name}}, Upstreams: []Upstream{u}}
}

func servers(addrs ...string) []upstream.Server {
	var out []upstream.Server
	for _, a := range addrs {
		out = append(out, upstream.Server{Addr: a})
	}
	return out
}

// testBackend is an httptest server counting its requests.
type testBackend struct {
	*httptest.Server
	hits atomic.Int64
}

func (b *testBackend) addr() string { return b.Listener.Addr().String() }

// startBackend serves h on loopback, counting requests.
func startBackend(t *testing.T, h http.HandlerFunc) *testBackend {
	t.Helper()
	b := &testBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(b.Close)
	return b
}

// named answers its name, for telling backends apart.
func named(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	}
}

// status answers code.
func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}
}

// echoed is what the echo backend saw of a request.
type echoed struct {
	Method string
	URI    string
	Host   string
	Proto  string
	Header http.Header
	Body   string
}

// echo answers, as JSON, the request it received.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(echoed{Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header, Body: string(body)})
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// newClient is a keep-alive HTTP/1.1 client closed with the test.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// do sends a request and returns the status, body and headers.
func do(t *testing.T, c *http.Client, method, url, body string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// eventually polls cond until it holds; waits are generous (this is no
// timing assertion, only a bound so a broken test ends).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkGoroutines fails the test if goroutines started during it are
// still running at its end (after its cleanups).
func checkGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("%d goroutines left over (%d before):\n%s", runtime.NumGoroutine(), base, buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
