package l7

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// keyFunc extracts a hash policy's key from a request; ip is the
// client's address.
type keyFunc func(r *http.Request, ip string) string

// compileKey turns a HashKey (one of HashKeys) into its keyFunc.
func compileKey(spec string) (keyFunc, error) {
	switch spec {
	case "$request_uri":
		return func(r *http.Request, _ string) string {
			if u := r.RequestURI; u != "" && u[0] == '/' {
				return u
			}
			return r.URL.RequestURI() // absolute form: the same key as its origin form
		}, nil
	case "$uri":
		return func(r *http.Request, _ string) string { return r.URL.Path }, nil
	case "$remote_addr":
		return func(_ *http.Request, ip string) string { return ip }, nil
	case "$host":
		return func(r *http.Request, _ string) string { return normalizeHost(r.Host) }, nil
	}
	kind, name, ok := strings.Cut(strings.TrimPrefix(spec, "$"), "_")
	if !strings.HasPrefix(spec, "$") || !ok || name == "" || !tokenChars(name) {
		return nil, fmt.Errorf("HashKey %q: use one of %v", spec, HashKeys)
	}
	switch kind {
	case "http":
		h := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "_", "-"))
		return func(r *http.Request, _ string) string {
			if vv := r.Header[h]; len(vv) > 0 {
				return vv[0]
			}
			return ""
		}, nil
	case "cookie":
		return func(r *http.Request, _ string) string {
			if c, err := r.Cookie(name); err == nil {
				return c.Value
			}
			return ""
		}, nil
	case "arg":
		return func(r *http.Request, _ string) string { return r.URL.Query().Get(name) }, nil
	}
	return nil, fmt.Errorf("HashKey %q: use one of %v", spec, HashKeys)
}

// tokenChars reports whether s is made of letters, digits, '-' and '_'.
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
