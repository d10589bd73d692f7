package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// versionServer answers like the demo app: {"version":...}; the version
// is v1 for the first switchAfter requests, then v2, and every failEvery-th
// request gets a 500.
type versionServer struct {
	hits        atomic.Int64
	fails       atomic.Int64
	switchAfter int64
	failEvery   int64
	onHit       func(n int64)
}

func (s *versionServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.hits.Add(1)
	if s.onHit != nil {
		s.onHit(n)
	}
	if s.failEvery > 0 && n%s.failEvery == 0 {
		s.fails.Add(1)
		http.Error(w, "broken", http.StatusInternalServerError)
		return
	}
	v := "v1"
	if n > s.switchAfter {
		v = "v2"
	}
	fmt.Fprintf(w, `{"hostname":"x","version":%q}`+"\n", v)
}

func checkTotals(t *testing.T, r loadReport) {
	t.Helper()
	var versions, errs int64
	for _, n := range r.Versions {
		versions += n
	}
	for _, n := range r.Errors {
		errs += n
	}
	if r.Sent != r.OK+r.Failed || versions != r.OK || errs != r.Failed {
		t.Fatalf("inconsistent report: %+v", r)
	}
}

func TestLoadCountsFailuresAndVersions(t *testing.T) {
	s := &versionServer{switchAfter: 60, failEvery: 7}
	srv := httptest.NewServer(s)
	defer srv.Close()
	cfg := loadConfig{urls: []string{srv.URL + "/", srv.URL + "/?b"}, rate: 400, duration: 500 * time.Millisecond,
		timeout: 5 * time.Second, conns: 64}
	r := runLoad(context.Background(), cfg, io.Discard)
	checkTotals(t, r)
	// Stopped by its duration: exactly rate × duration requests.
	if r.Sent != 200 {
		t.Fatalf("sent %d, want 200 (400/s for 0.5 s): %+v", r.Sent, r)
	}
	started := r.Sent - r.Errors["overload"]
	if s.hits.Load() != started {
		t.Fatalf("server saw %d requests, the report says %d started", s.hits.Load(), started)
	}
	if r.Errors["status 500"] != s.fails.Load() {
		t.Fatalf("errors %v, the server failed %d", r.Errors, s.fails.Load())
	}
	if r.Versions["v1"] == 0 || r.Versions["v2"] == 0 || len(r.Switches) == 0 {
		t.Fatalf("want answers of v1 and v2 and a switch: %+v", r)
	}
	if r.First["v1"] > r.First["v2"] || r.Last["v1"] > r.Last["v2"] {
		t.Fatalf("first %v last %v: v1 should come before v2", r.First, r.Last)
	}
	if r.P50MS <= 0 || r.P99MS < r.P50MS || r.MaxMS < r.P99MS || r.Rate <= 0 || r.ElapsedS <= 0 {
		t.Fatalf("figures: %+v", r)
	}
}

func TestLoadStopsOnStopFile(t *testing.T) {
	stop := filepath.Join(t.TempDir(), "stop")
	s := &versionServer{switchAfter: 1 << 40}
	s.onHit = func(n int64) {
		if n == 20 {
			if err := os.WriteFile(stop, nil, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	cfg := loadConfig{urls: []string{srv.URL}, rate: 200, duration: time.Hour, stopFile: stop, timeout: 5 * time.Second, conns: 64}
	r := runLoad(context.Background(), cfg, io.Discard)
	checkTotals(t, r)
	if r.Sent < 20 || r.Failed != 0 || r.Versions["v1"] != r.OK || len(r.Switches) != 0 {
		t.Fatalf("report: %+v", r)
	}
}

func TestLoadStopsWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &versionServer{switchAfter: 1 << 40}
	s.onHit = func(n int64) {
		if n == 10 {
			cancel()
		}
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	cfg := loadConfig{urls: []string{srv.URL}, rate: 200, duration: time.Hour, timeout: 5 * time.Second, conns: 64}
	r := runLoad(ctx, cfg, io.Discard)
	checkTotals(t, r)
	if r.Sent < 10 || r.Failed != 0 {
		t.Fatalf("report: %+v", r)
	}
}

// One slot, taken by a request the server never answers: the others
// cannot start and count as overload, the stuck one as a timeout.
func TestLoadOverloadAndTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	cfg := loadConfig{urls: []string{srv.URL}, rate: 100, duration: 100 * time.Millisecond, timeout: 2 * time.Second, conns: 1}
	r := runLoad(context.Background(), cfg, io.Discard)
	checkTotals(t, r)
	want := map[string]int64{"timeout": 1, "overload": 9}
	if r.Sent != 10 || r.OK != 0 || !reflect.DeepEqual(r.Errors, want) {
		t.Fatalf("report: %+v, want errors %v", r, want)
	}
}

func TestLoadConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := loadConfig{urls: []string{"http://" + addr + "/"}, rate: 100, duration: 50 * time.Millisecond, timeout: 2 * time.Second, conns: 64}
	r := runLoad(context.Background(), cfg, io.Discard)
	checkTotals(t, r)
	if r.Sent != 5 || r.Errors["connection refused"] != 5 {
		t.Fatalf("report: %+v", r)
	}
}

func TestTallySwitchesFirstLast(t *testing.T) {
	tl := newTally()
	for _, o := range []outcome{
		{at: 10 * time.Millisecond, version: "v1", latency: time.Millisecond},
		{at: 20 * time.Millisecond, version: "v1", latency: time.Millisecond},
		{at: 30 * time.Millisecond, version: "v2", latency: time.Millisecond},
		{at: 35 * time.Millisecond, err: "overload"},
		{at: 40 * time.Millisecond, version: "v1", latency: time.Millisecond},
		{at: 50 * time.Millisecond, version: "v2", latency: time.Millisecond},
		{at: 55 * time.Millisecond, err: "timeout", latency: 2 * time.Second},
		{at: 60 * time.Millisecond, version: "v2", latency: time.Millisecond},
	} {
		tl.add(o)
	}
	r := tl.report(time.Second)
	want := loadReport{
		Sent: 8, OK: 6, Failed: 2,
		Errors:   map[string]int64{"overload": 1, "timeout": 1},
		Versions: map[string]int64{"v1": 3, "v2": 3},
		Switches: []switchAt{{AtMS: 30, Version: "v2"}, {AtMS: 40, Version: "v1"}, {AtMS: 50, Version: "v2"}},
		First:    map[string]int64{"v1": 10, "v2": 30},
		Last:     map[string]int64{"v1": 40, "v2": 60},
		P99MS:    2000, MaxMS: 2000, ElapsedS: 1, Rate: 8,
	}
	if r.P50MS < 1 || r.P50MS > latGrowth { // 1 ms, within a bucket (1%)
		t.Errorf("p50 %g ms, want 1", r.P50MS)
	}
	r.P50MS = 0
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("report\n got %+v\nwant %+v", r, want)
	}
	if got := tl.progress(3 * time.Second); got != "t=3s sent=8 ok=6 failed=2 versions=v1:3,v2:3" {
		t.Fatalf("progress %q", got)
	}
}

func TestTallyNoAnswers(t *testing.T) {
	r := newTally().report(0)
	if r.Switches == nil || r.Errors == nil || r.Versions == nil || r.Rate != 0 || r.P99MS != 0 {
		t.Fatalf("empty report: %+v", r)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var l latencies
	for i := 1; i <= 100; i++ {
		l.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 50}, {0.99, 99}, {1, 100}} {
		got := l.quantile(c.q)
		if got < c.want || got > c.want*latGrowth {
			t.Errorf("quantile %g = %g ms, want %g (within 1%% above)", c.q, got, c.want)
		}
	}
	if ms(l.max) != 100 {
		t.Errorf("max %v", l.max)
	}
}

func TestParseLoad(t *testing.T) {
	cfg, err := parseLoad([]string{"-url", "127.0.0.1:8080/", "-url", "http://a/", "-rate", "500", "-duration", "3s",
		"-stop-file", "/tmp/x", "-conns", "8"})
	if err != nil {
		t.Fatal(err)
	}
	want := loadConfig{urls: []string{"http://127.0.0.1:8080/", "http://a/"}, rate: 500, duration: 3 * time.Second,
		stopFile: "/tmp/x", timeout: 2 * time.Second, conns: 8}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got %+v, want %+v", cfg, want)
	}
	for _, args := range [][]string{
		{"-rate", "1", "-duration", "1s"},
		{"-url", "a", "-duration", "1s"},
		{"-url", "a", "-rate", "1"},
		{"-url", "a", "-rate", "1", "-duration", "1s", "-conns", "0"},
		{"-url", "a", "-rate", "1", "-duration", "1s", "-timeout", "0s"},
		{"-url", "a", "-rate", "1", "-duration", "1s", "extra"},
		{"-url", "a", "-rate", "x", "-duration", "1s"},
	} {
		var u usageError
		if _, err := parseLoad(args); !errors.As(err, &u) {
			t.Errorf("parseLoad %v: %v, want a usage error", args, err)
		}
	}
}

func TestShortError(t *testing.T) {
	op := func(e error) error {
		return &url.Error{Op: "Get", URL: "http://10.0.0.1:8080/", Err: &net.OpError{Op: "read", Net: "tcp", Err: e}}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{op(os.NewSyscallError("connect", syscall.ECONNREFUSED)), "connection refused"},
		{op(os.NewSyscallError("read", syscall.ECONNRESET)), "connection reset by peer"},
		{&url.Error{Op: "Get", URL: "u", Err: io.EOF}, "EOF"},
		{fmt.Errorf("body: %w", io.ErrUnexpectedEOF), "unexpected EOF"},
		{&url.Error{Op: "Get", URL: "u", Err: context.DeadlineExceeded}, "timeout"},
		{&net.DNSError{Err: "no such host", Name: "web"}, "dns: no such host"},
		{errors.New("Get \"http://x/\": something odd"), "something odd"},
	} {
		if got := shortError(c.err); got != c.want {
			t.Errorf("shortError(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
