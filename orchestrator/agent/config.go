// Package agent assembles the xo agent: raft state, the Docker plugin
// socket, the engine watcher, the local API and metrics.
package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/xoverlay/xoverlay/dnsd"
)

// Config is everything `xo agent` takes from its flags.
type Config struct {
	StateDir      string
	PluginDir     string
	DockerHost    string // "" uses DOCKER_HOST or the default socket
	APISocket     string
	MetricsAddr   string // "" disables the metrics listener
	Pprof         bool   // /debug/pprof/ on the metrics listener
	DefaultPool   string
	DefaultBits   int
	MTU           int
	AdvertiseAddr string
	Hostname      string
	Reconcile     time.Duration

	ListenAddr     string // cluster port (raft + node RPC over mutual TLS)
	HeartbeatEvery time.Duration
	SuspectAfter   time.Duration
	DownAfter      time.Duration

	// SimulateTasks runs the node executor on a simulated engine
	// (executor.SimEngine): task containers are records, not processes,
	// kept in StateDir across restarts. For control-plane benchmarks
	// (--simulate-tasks, hidden).
	SimulateTasks bool

	// DNS is the discovery DNS server's configuration; an empty DNS.Addr
	// (--dns-listen "") disables it. Empty DNS.Upstreams are read from
	// /etc/resolv.conf.
	DNS dnsd.Config
	// DNSIntercept (--dns-intercept) sends the queries of containers that
	// are only on xoverlay networks from 127.0.0.11 straight to DNS.Addr.
	DNSIntercept bool

	// LBDataPlane (--lb-dataplane) is the service VIPs' data plane: auto
	// (probed: ipvs, nftables, userspace), or one of them.
	LBDataPlane string

	// DrainTimeout (--drain-timeout) bounds the wait of a drain (rolling
	// updates, xo drain) for every node's acknowledgement.
	DrainTimeout time.Duration
}

// PluginName is the plugin's name for Docker: `-d xoverlay`.
const PluginName = "xoverlay"

// PluginSocket is where Docker finds the plugin.
func (c Config) PluginSocket() string { return filepath.Join(c.PluginDir, PluginName+".sock") }

// Validate checks the flags before anything is touched.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("--state-dir must not be empty"))
	}
	if c.PluginDir == "" {
		errs = append(errs, errors.New("--plugin-dir must not be empty"))
	}
	if c.APISocket == "" {
		errs = append(errs, errors.New("--api-socket must not be empty"))
	}
	if p, err := netip.ParsePrefix(c.DefaultPool); err != nil || !p.Addr().Is4() || p.Masked() != p {
		errs = append(errs, fmt.Errorf("--default-pool %q must be an IPv4 CIDR like 10.200.0.0/16", c.DefaultPool))
	} else if c.DefaultBits < p.Bits() || c.DefaultBits > 30 {
		errs = append(errs, fmt.Errorf("--default-pool-size %d must be between /%d and /30", c.DefaultBits, p.Bits()))
	}
	if c.MTU < 576 || c.MTU > 1450 {
		errs = append(errs, fmt.Errorf("--mtu %d must be between 576 and 1450", c.MTU))
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		errs = append(errs, fmt.Errorf("--advertise-addr %q is not an IP address", c.AdvertiseAddr))
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		errs = append(errs, fmt.Errorf("--listen-addr %q: want HOST:PORT like 0.0.0.0:2378", c.ListenAddr))
	}
	if c.HeartbeatEvery <= 0 || c.SuspectAfter <= c.HeartbeatEvery || c.DownAfter <= c.SuspectAfter {
		errs = append(errs, fmt.Errorf("want 0 < --heartbeat-interval (%s) < --node-suspect-after (%s) < --node-down-after (%s)",
			c.HeartbeatEvery, c.SuspectAfter, c.DownAfter))
	}
	if c.DrainTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--drain-timeout %s must be positive, like 5s", c.DrainTimeout))
	}
	if c.DNS.Addr != "" {
		d := c.DNS
		d.Defaults()
		if err := d.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-addr %q: want HOST:PORT", c.MetricsAddr))
		}
	}
	return errors.Join(errs...)
}
