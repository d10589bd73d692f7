package dnsd

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// ParseResolvConf reads the nameserver lines of a resolv.conf file (the
// host's /etc/resolv.conf makes the default upstreams) and returns them as
// "ip:53", in file order, without duplicates and without the addresses in
// exclude (the server's own address, so it never forwards to itself).
// Scoped IPv6 addresses (fe80::1%eth0) keep their zone. A file without
// usable nameservers gives an empty list and no error.
func ParseResolvConf(path string, exclude ...netip.Addr) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dnsd: resolv.conf: %w", err)
	}
	defer f.Close()

	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		a = a.Unmap()
		if slices.ContainsFunc(exclude, func(x netip.Addr) bool { return x.Unmap() == a.WithZone("") }) {
			continue
		}
		hp := net.JoinHostPort(a.String(), "53")
		if !slices.Contains(out, hp) {
			out = append(out, hp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("dnsd: resolv.conf %s: %w", path, err)
	}
	return out, nil
}
