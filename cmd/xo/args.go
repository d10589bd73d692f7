package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// parseKV parses repeated KEY=VALUE flag values. check, when not nil,
// validates each value.
func parseKV(flag string, values []string, check func(v string) error) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("invalid --%s %q: want KEY=VALUE", flag, kv)
		}
		if check != nil {
			if err := check(v); err != nil {
				return nil, fmt.Errorf("invalid --%s %q: %w", flag, kv, err)
			}
		}
		out[k] = v
	}
	return out, nil
}

// checkIP accepts an IP address.
func checkIP(v string) error {
	if _, err := netip.ParseAddr(v); err != nil {
		return fmt.Errorf("%q is not an IP address", v)
	}
	return nil
}

// joinAddr checks a manager address given as HOST, IP or either with a
// port, and adds api.DefaultClusterPort when it has none.
func joinAddr(s string) (string, error) {
	host, port, err := splitAddr(s)
	if err != nil {
		return "", err
	}
	if port == "" {
		port = strconv.Itoa(api.DefaultClusterPort)
	}
	return net.JoinHostPort(host, port), nil
}

// checkAddr checks an address given as HOST, IP or either with a port.
func checkAddr(s string) error {
	_, _, err := splitAddr(s)
	return err
}

var errAddrForm = errors.New("want HOST or HOST:PORT, such as 10.0.0.1, manager-1 or 10.0.0.1:2378")

// splitAddr splits HOST[:PORT] and checks both parts. An IPv6 address
// with a port is written in brackets: [fd00::1]:2378.
func splitAddr(s string) (host, port string, err error) {
	bad := func(why string) error {
		if why != "" {
			return fmt.Errorf("invalid address %q: %s; %w", s, why, errAddrForm)
		}
		return fmt.Errorf("invalid address %q: %w", s, errAddrForm)
	}
	switch h, p, err := net.SplitHostPort(s); {
	case err == nil:
		host, port = h, p
		if port == "" {
			return "", "", bad("empty port")
		}
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	default:
		host = s // no port, or a bare IPv6 address
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", "", bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
	}
	if _, err := netip.ParseAddr(host); err != nil && !isHostname(host) {
		return "", "", bad("")
	}
	return host, port, nil
}

// isHostname reports whether s is a DNS name (RFC 1123 labels).
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
