package l7

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

func TestCompileKey(t *testing.T) {
	r := httptest.NewRequest("GET", "http://Shop.Example.com/cart/1?user=ann&x=1", nil)
	r.Header.Set("X-User-Id", "42")
	r.AddCookie(&http.Cookie{Name: "session", Value: "abc"})
	tests := []struct{ spec, want string }{
		{"$request_uri", "/cart/1?user=ann&x=1"},
		{"$uri", "/cart/1"},
		{"$remote_addr", "192.0.2.9"},
		{"$host", "shop.example.com"},
		{"$http_x_user_id", "42"},
		{"$http_missing", ""},
		{"$cookie_session", "abc"},
		{"$arg_user", "ann"},
	}
	for _, tc := range tests {
		f, err := compileKey(tc.spec)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		if got := f(r, "192.0.2.9"); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.spec, got, tc.want)
		}
	}
	for _, bad := range []string{"", "request_uri", "$", "$http_", "$foo_bar", "$http_a b", "$args"} {
		if _, err := compileKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestHashPolicyThroughProxy: with a consistent hash on the URI, each
// URI stays on one backend.
func TestHashPolicyThroughProxy(t *testing.T) {
	var addrs []string
	for _, n := range []string{"a", "b", "c"} {
		addrs = append(addrs, startBackend(t, named(n)).addr())
	}
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Policy: upstream.Hash, HashKey: "$request_uri", Servers: servers(addrs...)}))
	c := newClient(t)
	seen := map[string]bool{}
	for i := range 30 {
		uri := "/item/" + string(rune('a'+i%10))
		_, first, _ := do(t, c, "GET", p.url(uri), "")
		_, again, _ := do(t, c, "GET", p.url(uri), "")
		if first != again {
			t.Fatalf("%s went to %s then %s", uri, first, again)
		}
		seen[first] = true
	}
	if len(seen) < 2 {
		t.Errorf("10 URIs all on %v", seen)
	}
}

func TestIPHashThroughProxy(t *testing.T) {
	var addrs []string
	for _, n := range []string{"a", "b", "c"} {
		addrs = append(addrs, startBackend(t, named(n)).addr())
	}
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Policy: upstream.IPHash, Servers: servers(addrs...)}))
	c := newClient(t)
	_, first, _ := do(t, c, "GET", p.url("/"), "")
	for range 10 {
		if _, got, _ := do(t, c, "GET", p.url("/"), ""); got != first {
			t.Fatalf("one client went to %s and %s", first, got)
		}
	}
}

func TestLeastConnThroughProxy(t *testing.T) {
	slow, started, release := slowBackend(t)
	fast := startBackend(t, named("fast"))
	p := startProxy(t, Options{})
	// Both idle: the heavier one gets the first request, and keeps it.
	p.update(t, oneUpstream(Upstream{Policy: upstream.LeastConn, Servers: []upstream.Server{
		{Addr: slow.addr(), Weight: 100}, {Addr: fast.addr()},
	}}))
	c := newClient(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		do(t, c, "GET", p.url("/"), "")
	}()
	<-started
	// Busy with 1 request it is behind the idle one, whatever its weight.
	for range 5 {
		if _, body, _ := do(t, c, "GET", p.url("/"), ""); body != "fast" {
			t.Errorf("least_conn sent a request to the busy backend (%q)", body)
		}
	}
	close(release)
	<-done
}
