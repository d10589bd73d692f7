package l7

import (
	"net/http"
	"strings"
)

// hopHeader reports whether a header is about one connection, not the
// message, so a proxy must not forward it (RFC 9110 7.6.1).
func hopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// skipRequestHeader reports whether a client's header is not copied to
// the backend: hop-by-hop headers, the framing the proxy writes itself,
// Expect (the proxy answers 100-continue), the forwarding headers the
// proxy sets, and names with '_' (nginx's default: some frameworks read
// X_Real_IP as X-Real-IP, which would let clients spoof it).
func skipRequestHeader(k string) bool {
	switch k {
	case "Content-Length", "Expect", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip":
		return true
	}
	return hopHeader(k) || strings.IndexByte(k, '_') >= 0
}

// connectionListed reports whether the Connection header values conn
// name header k (a canonical key) as hop-by-hop.
func connectionListed(conn []string, k string) bool {
	for _, v := range conn {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// hasToken reports whether a comma-separated header has token (any case).
func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), token) {
				return true
			}
		}
	}
	return false
}

// upgradeOf is the protocol an HTTP/1.1 request asks to switch to
// ("websocket"), or "". h2c is not passed on: the listener speaks it.
func upgradeOf(r *http.Request) string {
	if r.ProtoMajor != 1 {
		return ""
	}
	up := r.Header["Upgrade"]
	if len(up) == 0 || up[0] == "" || strings.EqualFold(up[0], "h2c") || !hasToken(r.Header["Connection"], "upgrade") {
		return ""
	}
	return up[0]
}

// clientIP is the address part of a RemoteAddr ("ip:port", "[v6]:port").
func clientIP(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return remote
	}
	h := remote[:i]
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return h
}

// idempotent reports whether a request with this method may be sent
// again after it reached a backend (nginx's proxy_next_upstream rule:
// POST, PATCH and LOCK are not).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
