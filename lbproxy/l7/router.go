package l7

import (
	"path"
	"strings"
)

// router is a compiled route table: host first (exact, then the longest
// wildcard, then any host), then the longest path prefix of that host.
type router struct {
	exact map[string]*pathTable
	wild  map[string]*pathTable // by suffix: ".example.com" for *.example.com
	any   *pathTable
}

// pathTable maps normalized path prefixes to their upstream.
type pathTable struct {
	m map[string]*upstreamState
}

// newRouter compiles routes (already validated) over the upstreams.
func newRouter(routes []Route, ups map[string]*upstreamState) *router {
	rt := &router{exact: map[string]*pathTable{}, wild: map[string]*pathTable{}}
	for _, r := range routes {
		host, _ := normalizeHostRule(r.Host)
		p, _ := normalizePathRule(r.Path)
		var t *pathTable
		switch {
		case host == "":
			if rt.any == nil {
				rt.any = newPathTable()
			}
			t = rt.any
		case strings.HasPrefix(host, "*."):
			t = tableFor(rt.wild, host[1:])
		default:
			t = tableFor(rt.exact, host)
		}
		t.m[p] = ups[r.Upstream]
	}
	return rt
}

func newPathTable() *pathTable { return &pathTable{m: map[string]*upstreamState{}} }

// tableFor is m[k], made if missing.
func tableFor(m map[string]*pathTable, k string) *pathTable {
	t := m[k]
	if t == nil {
		t = newPathTable()
		m[k] = t
	}
	return t
}

// match finds the upstream of a request's Host header and URL path, or
// nil.
func (rt *router) match(host, urlPath string) *upstreamState {
	t := rt.table(normalizeHost(host))
	if t == nil {
		return nil
	}
	return t.match(urlPath)
}

func (rt *router) table(h string) *pathTable {
	if t := rt.exact[h]; t != nil {
		return t
	}
	if len(rt.wild) > 0 {
		for i := 0; i < len(h); i++ {
			if h[i] == '.' {
				if t := rt.wild[h[i:]]; t != nil {
					return t
				}
			}
		}
	}
	return rt.any
}

func (t *pathTable) match(p string) *upstreamState {
	if p == "" || p[0] != '/' {
		p = "/"
	}
	if strings.Contains(p, "//") || strings.Contains(p, "/.") {
		p = cleanPath(p)
	}
	for {
		if u := t.m[p]; u != nil {
			return u
		}
		if p == "/" {
			return nil
		}
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			p = p[:i]
		} else {
			p = "/"
		}
	}
}

// cleanPath removes dot segments and double slashes.
func cleanPath(p string) string { return path.Clean(p) }

// normalizeHost is a Host header as routes see it: no port, lower case,
// no trailing dot. It allocates only for upper-case input.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
