package l7

import (
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

func TestConfigValidate(t *testing.T) {
	good := []upstream.Server{{Addr: "10.0.0.1:80"}}
	up := func(u Upstream) Config {
		if u.Name == "" {
			u.Name = "web"
		}
		if u.Servers == nil {
			u.Servers = good
		}
		return Config{Routes: []Route{{Upstream: u.Name}}, Upstreams: []Upstream{u}}
	}
	route := func(r Route) Config {
		r.Upstream = "web"
		return Config{Routes: []Route{r}, Upstreams: []Upstream{{Name: "web", Servers: good}}}
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none: valid
	}{
		{"empty", Config{}, nil},
		{"simple", up(Upstream{}), nil},
		{"every policy", Config{Upstreams: []Upstream{
			{Name: "a", Policy: upstream.RoundRobin}, {Name: "b", Policy: upstream.LeastConn},
			{Name: "c", Policy: upstream.IPHash}, {Name: "d", Policy: upstream.Hash, HashKey: "$http_x_user"},
		}}, nil},
		{"hosts and paths", Config{Routes: []Route{
			{Host: "App.Example.com.", Path: "/api/", Upstream: "web"}, {Host: "*.example.com", Upstream: "web"},
			{Host: "10.0.0.1", Path: "/x", Upstream: "web"}, {Host: "[fd00::1]", Upstream: "web"},
		}, Upstreams: []Upstream{{Name: "web"}}}, nil},
		{"no servers is fine", up(Upstream{Servers: []upstream.Server{}}), nil},

		{"unknown upstream", Config{Routes: []Route{{Upstream: "nope"}}}, []string{`route 0`, `upstream "nope" is not defined`}},
		{"host with port", route(Route{Host: "a.com:80"}), []string{`host "a.com:80"`, "drop the port"}},
		{"wildcard inside", route(Route{Host: "a.*.com"}), []string{"whole first label"}},
		{"bare wildcard", route(Route{Host: "*"}), []string{"leave the host empty"}},
		{"bad host char", route(Route{Host: "a b.com"}), []string{`host "a b.com"`}},
		{"empty label", route(Route{Host: "a..com"}), []string{"label"}},
		{"relative path", route(Route{Path: "api"}), []string{"start it with '/'", "/api"}},
		{"path query", route(Route{Path: "/a?b"}), []string{"no query"}},
		{"path star", route(Route{Path: "/api/*"}), []string{"prefixes already"}},
		{"path dots", route(Route{Path: "/a/../b"}), []string{"'..'"}},
		{"path space", route(Route{Path: "/a b"}), []string{"percent-encode"}},
		{"duplicate route", Config{Routes: []Route{{Path: "/a", Upstream: "web"}, {Path: "/a/", Upstream: "web"}},
			Upstreams: []Upstream{{Name: "web"}}}, []string{"route 1", "same host and path as route 0"}},
		{"duplicate upstream", Config{Upstreams: []Upstream{{Name: "web"}, {Name: "web"}}}, []string{`"web" is used twice`}},
		{"no name", Config{Upstreams: []Upstream{{}}}, []string{"name is empty"}},
		{"bad policy", up(Upstream{Policy: "random"}), []string{`policy "random"`, "round_robin"}},
		{"hash without key", up(Upstream{Policy: upstream.Hash}), []string{"needs a HashKey"}},
		{"bad key", up(Upstream{Policy: upstream.Hash, HashKey: "$nope"}), []string{`HashKey "$nope"`, "$request_uri"}},
		{"key without hash", up(Upstream{HashKey: "$uri"}), []string{"policy hash only"}},
		{"bad server", up(Upstream{Servers: []upstream.Server{{Addr: "10.0.0.1"}}}), []string{"server 0", "want host:port"}},
		{"bad port", up(Upstream{Servers: []upstream.Server{{Addr: "10.0.0.1:0"}}}), []string{"1 to 65535"}},
		{"bad weight", up(Upstream{Servers: []upstream.Server{{Addr: "a:1", Weight: -1}}}), []string{"weight -1"}},
		{"dup server", up(Upstream{Servers: []upstream.Server{{Addr: "a:1"}, {Addr: "a:1"}}}), []string{"listed twice", "Weight"}},
		{"negative tries", up(Upstream{MaxTries: -1}), []string{"MaxTries -1"}},
		{"negative timeout", up(Upstream{RetryTimeout: -time.Second}), []string{"RetryTimeout"}},
		{"several problems", Config{Routes: []Route{{Path: "x", Upstream: "u"}}}, []string{"start it with '/'", `"u" is not defined`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{ReadHeaderTimeout: -1},
		{MaxIdlePerBackend: -1},
		{AccessLog: &strings.Builder{}, AccessLogger: discardLogger()},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestStartErrors(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "Options.Addr") {
		t.Errorf("Start without Addr: %v", err)
	}
}

func TestStartAndShutdown(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, named("be"))
	s, err := New(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(oneUpstream(Upstream{Servers: servers(be.addr())})); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	if code, body, _ := do(t, c, "GET", "http://"+s.Addr().String()+"/", ""); code != 200 || body != "be" {
		t.Fatalf("%d %q", code, body)
	}
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := s.Update(oneUpstream(Upstream{})); err == nil {
		t.Error("Update after Shutdown accepted")
	}
}
