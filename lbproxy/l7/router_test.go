package l7

import "testing"

func TestRouter(t *testing.T) {
	routes := []Route{
		{Host: "", Path: "/", Upstream: "default"},
		{Host: "", Path: "/api", Upstream: "any-api"},
		{Host: "app.example.com", Path: "/", Upstream: "app"},
		{Host: "app.example.com", Path: "/api/", Upstream: "app-api"},
		{Host: "app.example.com", Path: "/api/v2", Upstream: "app-api-v2"},
		{Host: "*.example.com", Path: "/", Upstream: "wild"},
		{Host: "*.eu.example.com", Path: "/", Upstream: "wild-eu"},
		{Host: "only.example.org", Path: "/x", Upstream: "only-x"},
		{Host: "[fd00::1]", Path: "/", Upstream: "v6"},
	}
	ups := map[string]*upstreamState{}
	for _, r := range routes {
		ups[r.Upstream] = &upstreamState{name: r.Upstream}
	}
	rt := newRouter(routes, ups)
	tests := []struct {
		host, path, want string
	}{
		{"app.example.com", "/", "app"},
		{"APP.Example.COM:8080", "/index.html", "app"},
		{"app.example.com.", "/", "app"},
		{"app.example.com", "/api", "app-api"},
		{"app.example.com", "/api/users", "app-api"},
		{"app.example.com", "/apiary", "app"}, // prefixes match whole segments
		{"app.example.com", "/api/v2", "app-api-v2"},
		{"app.example.com", "/api/v2/x", "app-api-v2"},
		{"app.example.com", "/api/v20", "app-api"},
		{"app.example.com", "/api/v2/../v1", "app-api"}, // dot segments removed first
		{"app.example.com", "//api//v2", "app-api-v2"},
		{"www.example.com", "/", "wild"},
		{"a.b.example.com", "/x", "wild"},
		{"x.eu.example.com", "/", "wild-eu"}, // the longer wildcard wins
		{"example.com", "/", "default"},      // *.example.com does not match example.com
		{"other.org", "/api/x", "any-api"},
		{"other.org", "/", "default"},
		{"", "/", "default"},
		{"only.example.org", "/x/y", "only-x"},
		{"only.example.org", "/y", ""}, // the host's routes only: no fallback to ""
		{"[fd00::1]:80", "/", "v6"},
		{"other.org", "*", "default"}, // OPTIONS *
	}
	for _, tc := range tests {
		got := ""
		if u := rt.match(tc.host, tc.path); u != nil {
			got = u.name
		}
		if got != tc.want {
			t.Errorf("host %q path %q: upstream %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}
}

func TestEmptyRouter(t *testing.T) {
	if u := newRouter(nil, nil).match("a", "/"); u != nil {
		t.Errorf("empty router matched %q", u.name)
	}
}
