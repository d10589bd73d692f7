package dnsd

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults of Config. The zero value of TTL, CacheSize and ClientQPS has a
// meaning of its own (no caching by clients, no cache, no limit), so
// Defaults leaves them alone: flags start from these constants instead.
const (
	DefaultAddr           = "169.254.53.53:53"
	DefaultDomain         = "xo"
	DefaultTTL            = time.Second
	DefaultForwardTimeout = 2 * time.Second
	DefaultMaxConcurrent  = 256
	DefaultCacheSize      = 10000
	DefaultNegativeTTL    = 30 * time.Second

	// MaxTTL is the largest TTL of cluster records Validate accepts.
	MaxTTL = 300 * time.Second
	// maxCacheSize keeps a typo in --dns-cache-size from eating the host.
	maxCacheSize = 10_000_000
)

// Config is the server's configuration; the comments name the agent's
// flags.
type Config struct {
	// Addr is where the server listens, UDP and TCP (--dns-listen). Port 0
	// picks a free port (tests); Server.Addr tells which.
	Addr string
	// Domain is the cluster domain (--dns-domain): NAME.DOMAIN and
	// NAME.NETWORK.DOMAIN are answered like NAME and NAME.NETWORK.
	Domain string
	// TTL is the TTL of cluster records, in whole seconds (--dns-ttl);
	// 0 is allowed and not replaced by Defaults.
	TTL time.Duration
	// Upstreams are the resolvers ("ip:port", or "ip" for port 53) asked
	// for every name outside the cluster (--dns-upstream), in order. None:
	// such names get SERVFAIL.
	Upstreams []string
	// ForwardTimeout bounds one forwarded query over all upstreams.
	ForwardTimeout time.Duration
	// MaxConcurrent is how many forwarded queries may be in flight; more
	// get SERVFAIL at once (--dns-forward-max).
	MaxConcurrent int
	// CacheSize is the number of cached forwarded answers (--dns-cache-size);
	// 0 disables the cache and is not replaced by Defaults.
	CacheSize int
	// NegativeTTL caps how long NXDOMAIN and NODATA answers are cached.
	NegativeTTL time.Duration
	// ClientQPS limits the queries per second answered per source
	// address (--dns-client-qps); more get REFUSED. 0 disables the limit.
	// Host sources (loopback, HostAddrs) are never limited.
	ClientQPS int
	// UDPWorkers is how many goroutines serve UDP, each on a socket of
	// its own (--dns-udp-workers); 0 is DefaultUDPWorkers.
	UDPWorkers int
	// HostAddrs are sources that see every network, like loopback does:
	// the server's own address and the host's.
	HostAddrs []netip.Addr
}

// maxUDPWorkers bounds --dns-udp-workers.
const maxUDPWorkers = 256

// DefaultUDPWorkers is the number of UDP workers: one per CPU the Go
// runtime uses (GOMAXPROCS) but one, which is left to the rest of the
// agent (raft, the engine watchers, the controllers); at least one. With
// a worker on every CPU, a worker woken by a query waits for a CPU the
// agent's other goroutines hold: on 2 CPUs (bench dns), one worker
// answered as many queries per second as two, with a lower p99 at an
// equal load.
func DefaultUDPWorkers() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// Defaults fills the zero values that have a default (Addr, Domain,
// ForwardTimeout, MaxConcurrent, NegativeTTL, UDPWorkers). TTL, CacheSize and ClientQPS
// are left as they are, since 0 is meaningful for them.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	if c.ForwardTimeout == 0 {
		c.ForwardTimeout = DefaultForwardTimeout
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.NegativeTTL == 0 {
		c.NegativeTTL = DefaultNegativeTTL
	}
	if c.UDPWorkers == 0 {
		c.UDPWorkers = DefaultUDPWorkers()
	}
}

// Validate checks a configuration after Defaults; every error names the
// flag to fix.
func (c Config) Validate() error {
	var errs []error
	if _, err := parseListen(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("dnsd: --dns-listen %q: %w", c.Addr, err))
	}
	if d := strings.Trim(c.Domain, "."); d == "" || !validDomain(d) {
		errs = append(errs, fmt.Errorf("dnsd: --dns-domain %q: want a DNS name like %q", c.Domain, DefaultDomain))
	}
	if c.TTL < 0 || c.TTL > MaxTTL {
		errs = append(errs, fmt.Errorf("dnsd: --dns-ttl %s: want 0s to %s", c.TTL, MaxTTL))
	}
	for _, u := range c.Upstreams {
		ap, err := parseUpstream(u)
		if err != nil {
			errs = append(errs, fmt.Errorf("dnsd: --dns-upstream %q: %w", u, err))
			continue
		}
		if l, err := parseListen(c.Addr); err == nil && l == ap {
			errs = append(errs, fmt.Errorf("dnsd: --dns-upstream %q is --dns-listen itself: queries would loop", u))
		}
	}
	if c.ForwardTimeout <= 0 || c.ForwardTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("dnsd: --dns-forward-timeout %s: want more than 0s, at most 1m", c.ForwardTimeout))
	}
	if c.MaxConcurrent < 1 || c.MaxConcurrent > 1<<20 {
		errs = append(errs, fmt.Errorf("dnsd: --dns-forward-max %d: want 1 to %d", c.MaxConcurrent, 1<<20))
	}
	if c.CacheSize < 0 || c.CacheSize > maxCacheSize {
		errs = append(errs, fmt.Errorf("dnsd: --dns-cache-size %d: want 0 (no cache) to %d", c.CacheSize, maxCacheSize))
	}
	if c.NegativeTTL < 0 {
		errs = append(errs, fmt.Errorf("dnsd: --dns-negative-ttl %s: must not be negative", c.NegativeTTL))
	}
	if c.UDPWorkers < 0 || c.UDPWorkers > maxUDPWorkers {
		errs = append(errs, fmt.Errorf("dnsd: --dns-udp-workers %d: want 0 (one per CPU but one) to %d", c.UDPWorkers, maxUDPWorkers))
	}
	if c.ClientQPS < 0 {
		errs = append(errs, fmt.Errorf("dnsd: --dns-client-qps %d: want 0 (no limit) or more", c.ClientQPS))
	}
	for _, a := range c.HostAddrs {
		if !a.IsValid() {
			errs = append(errs, errors.New("dnsd: host addresses: an invalid address"))
		}
	}
	return errors.Join(errs...)
}

// parseListen parses Addr: an IP address and a port (0 allowed).
func parseListen(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, errors.New("want IP:PORT like " + DefaultAddr)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// parseUpstream parses "ip:port" or a bare "ip" (port 53).
func parseUpstream(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.AddrPort{}, errors.New("port 0")
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53), nil
	}
	return netip.AddrPort{}, errors.New("want IP or IP:PORT like 192.0.2.53:53")
}

// upstreamAddrs turns Upstreams into the "ip:port" strings dialled.
func upstreamAddrs(ups []string) ([]string, error) {
	out := make([]string, 0, len(ups))
	for _, u := range ups {
		ap, err := parseUpstream(u)
		if err != nil {
			return nil, fmt.Errorf("dnsd: --dns-upstream %q: %w", u, err)
		}
		out = append(out, net.JoinHostPort(ap.Addr().String(), strconv.Itoa(int(ap.Port()))))
	}
	return out, nil
}

// validDomain accepts a relative DNS name of plain labels.
func validDomain(d string) bool {
	if _, ok := dns.IsDomainName(d); !ok || strings.Contains(d, "..") {
		return false
	}
	for _, r := range d {
		if !(r == '-' || r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// ttlSeconds is the TTL written on cluster records.
func (c Config) ttlSeconds() uint32 { return uint32(c.TTL / time.Second) }
