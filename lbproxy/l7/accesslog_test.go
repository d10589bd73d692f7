package l7

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer safe for the proxy's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAccessLogLines(t *testing.T) {
	be := startBackend(t, named("be"))
	var buf syncBuffer
	p := startProxy(t, Options{AccessLog: &buf})
	p.update(t, Config{Routes: []Route{{Path: "/app", Upstream: "web"}}, Upstreams: []Upstream{{Name: "web", Servers: servers(be.addr())}}})
	c := newClient(t)
	do(t, c, "GET", p.url("/app/x?q=1"), "", "User-Agent", `evil"agent`+"é", "Referer", "http://ref/")
	do(t, c, "GET", p.url("/other"), "")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	re := regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /app/x\?q=1 HTTP/1\.1" 200 2 "http://ref/" "evil\\x22agent\\xC3\\xA9" host="127\.0\.0\.1:\d+" service="web" backend="` +
		regexp.QuoteMeta(be.addr()) + `" tries=1 rt=\d+\.\d{6}$`)
	if !re.MatchString(lines[0]) {
		t.Errorf("line %q does not match %s", lines[0], re)
	}
	if !strings.Contains(lines[1], `"GET /other HTTP/1.1" 404 `) || !strings.Contains(lines[1], `service="-" backend="-" tries=0`) {
		t.Errorf("404 line %q", lines[1])
	}
}

type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestAccessLogSlog(t *testing.T) {
	be := startBackend(t, named("be"))
	h := &recordHandler{}
	p := startProxy(t, Options{AccessLogger: slog.New(h)})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	do(t, newClient(t), "POST", p.url("/p"), "x")
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.recs) != 1 {
		t.Fatalf("%d records", len(h.recs))
	}
	got := map[string]string{}
	h.recs[0].Attrs(func(a slog.Attr) bool {
		got[a.Key] = a.Value.String()
		return true
	})
	for k, v := range map[string]string{"method": "POST", "uri": "/p", "status": "200", "service": "web", "backend": be.addr(), "tries": "1"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (record %v)", k, got[k], v, got)
		}
	}
}
