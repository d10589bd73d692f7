package l7

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

// Config is what the proxy serves: routes to named upstreams. Update
// swaps it in atomically; an invalid Config is refused whole.
type Config struct {
	Routes    []Route
	Upstreams []Upstream
}

// Route sends the requests for Host whose path is under Path to the
// upstream named Upstream.
//
// Host is "" (any host), an exact name ("app.example.com", matched
// without case, port or trailing dot) or a wildcard "*.example.com" (any
// name under example.com, at any depth). For a request, an exact host
// wins over a wildcard, a longer wildcard over a shorter one, and any of
// them over "". Among the routes of that host, the longest Path that is
// a prefix of the request's path wins. Prefixes match whole segments:
// "/api" matches "/api" and "/api/v1", not "/apiary". The path is
// matched after removing dot segments and double slashes; the request
// goes to the backend unchanged. No match is a 404.
type Route struct {
	Host     string
	Path     string // "" means "/"
	Upstream string
}

// Upstream is a named group of backends with an nginx-style policy. Its
// name is the service label of the metrics.
type Upstream struct {
	Name    string
	Policy  upstream.Policy // "" means round_robin
	HashKey string          // for Policy hash; see HashKeys
	Servers []upstream.Server
	// MaxTries bounds the backends one request is tried on (nginx's
	// proxy_next_upstream_tries); 0 means every server once.
	MaxTries int
	// RetryTimeout: no further backend is tried once the request is
	// that old (nginx's proxy_next_upstream_timeout); 0 means
	// Options.RetryTimeout.
	RetryTimeout time.Duration
}

// HashKeys lists the request keys the hash policy accepts; NAME is a
// header (as in $http_x_user: '_' stands for '-'), a cookie or a query
// argument name.
var HashKeys = []string{"$request_uri", "$uri", "$remote_addr", "$host", "$http_NAME", "$cookie_NAME", "$arg_NAME"}

// Validate checks every rule; the error lists each problem with the rule
// it is in and how to fix it.
func (c *Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i, u := range c.Upstreams {
		if err := u.validate(); err != nil {
			errs = append(errs, fmt.Errorf("upstream %d (%q): %w", i, u.Name, err))
		}
		if names[u.Name] {
			errs = append(errs, fmt.Errorf("upstream %d: the name %q is used twice: give each upstream its own name", i, u.Name))
		}
		names[u.Name] = true
	}
	seen := map[[2]string]int{}
	for i, r := range c.Routes {
		where := fmt.Sprintf("route %d (host %q, path %q)", i, r.Host, r.Path)
		host, herr := normalizeHostRule(r.Host)
		if herr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, herr))
		}
		path, perr := normalizePathRule(r.Path)
		if perr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, perr))
		}
		if !names[r.Upstream] {
			errs = append(errs, fmt.Errorf("%s: upstream %q is not defined: add it to Upstreams or fix the name", where, r.Upstream))
		}
		if herr != nil || perr != nil {
			continue
		}
		k := [2]string{host, path}
		if j, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("%s: same host and path as route %d: remove one, or give them different paths", where, j))
			continue
		}
		seen[k] = i
	}
	return errors.Join(errs...)
}

func (u *Upstream) validate() error {
	var errs []error
	if err := validName(u.Name); err != nil {
		errs = append(errs, err)
	}
	p := u.Policy.Or(upstream.RoundRobin)
	if !p.Valid() {
		errs = append(errs, fmt.Errorf("policy %q: use one of %v", u.Policy, upstream.Policies))
	}
	switch {
	case p == upstream.Hash && u.HashKey == "":
		errs = append(errs, fmt.Errorf("policy hash needs a HashKey: one of %v", HashKeys))
	case p == upstream.Hash:
		if _, err := compileKey(u.HashKey); err != nil {
			errs = append(errs, err)
		}
	case u.HashKey != "":
		errs = append(errs, fmt.Errorf("HashKey %q is used by policy hash only: set Policy to hash or drop the key", u.HashKey))
	}
	if u.MaxTries < 0 {
		errs = append(errs, fmt.Errorf("MaxTries %d: use a positive bound, or 0 for one try per server", u.MaxTries))
	}
	if u.RetryTimeout < 0 {
		errs = append(errs, fmt.Errorf("RetryTimeout %v: use a positive duration, or 0 for the proxy's default", u.RetryTimeout))
	}
	addrs := map[string]bool{}
	for i, s := range u.Servers {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("server %d (%s): %w", i, s.Addr, err))
		}
		if addrs[s.Addr] {
			errs = append(errs, fmt.Errorf("server %d: %s is listed twice: list each address once and use Weight for a bigger share", i, s.Addr))
		}
		addrs[s.Addr] = true
	}
	return errors.Join(errs...)
}

// validName checks an upstream name: it is a metric label and appears
// in logs, so printable and without spaces.
func validName(name string) error {
	if name == "" {
		return errors.New("the name is empty: name the upstream after its service")
	}
	if len(name) > 255 {
		return errors.New("the name is longer than 255 bytes")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("name %q: character %q: use printable ASCII without spaces", name, c)
		}
	}
	return nil
}

// normalizeHostRule checks a route's host and returns the form the
// router matches: lower case, no trailing dot.
func normalizeHostRule(h string) (string, error) {
	if h == "" {
		return "", nil
	}
	n := strings.TrimSuffix(strings.ToLower(h), ".")
	if strings.HasPrefix(n, "[") && strings.HasSuffix(n, "]") {
		if a, err := netip.ParseAddr(n[1 : len(n)-1]); err == nil && a.Is6() {
			return n, nil
		}
		return "", fmt.Errorf("host %q: not an IPv6 address in brackets", h)
	}
	if strings.Contains(n, ":") {
		return "", fmt.Errorf("host %q: drop the port: routes match the host name only (the listener has the port)", h)
	}
	if n == "*" {
		return "", fmt.Errorf("host %q: leave the host empty to match every host", h)
	}
	name, wild := strings.CutPrefix(n, "*.")
	if strings.Contains(name, "*") {
		return "", fmt.Errorf("host %q: a wildcard is only allowed as the whole first label, as in *.example.com", h)
	}
	if err := validHostName(name); err != nil {
		return "", fmt.Errorf("host %q: %w", h, err)
	}
	if wild {
		return "*." + name, nil
	}
	return name, nil
}

// validHostName checks a DNS name (or IPv4 address) of a route.
func validHostName(name string) error {
	if name == "" || len(name) > 253 {
		return errors.New("a host name has 1 to 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("label %q: labels are 1 to 63 characters, separated by single dots", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("character %q: host names have letters, digits, '-' and '.'", c)
			}
		}
	}
	return nil
}

// normalizePathRule checks a route's path prefix and returns it without
// a trailing slash ("/" stays "/").
func normalizePathRule(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if p[0] != '/' {
		return "", fmt.Errorf("path %q: start it with '/', as in /%s", p, p)
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c <= ' ' || c == 0x7f:
			return "", fmt.Errorf("path %q: spaces and control characters are not allowed: percent-encode them", p)
		case c == '?' || c == '#':
			return "", fmt.Errorf("path %q: a path prefix has no query or fragment: drop what starts at %q", p, c)
		case c == '*':
			return "", fmt.Errorf("path %q: paths are prefixes already (/api matches /api and /api/...): drop the '*'", p)
		}
	}
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
	}
	if strings.Contains(p, "//") || cleanPath(p) != p {
		return "", fmt.Errorf("path %q: write it without '//', '.' or '..' segments", p)
	}
	return p, nil
}
