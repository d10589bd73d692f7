package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/dnsd"
	"github.com/xoverlay/xoverlay/netdriver"
	"github.com/xoverlay/xoverlay/orchestrator/agent"
	"github.com/xoverlay/xoverlay/orchestrator/orchestrate"
)

func newAgentCmd() *cobra.Command {
	var cfg agent.Config
	host, _ := os.Hostname()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the xoverlay agent on this host (as root)",
		Long: `Run the xoverlay agent: the Docker network and IPAM plugin "xoverlay",
the cluster state (a single-node cluster on local disk by default), the
local API for the xo CLI and Prometheus metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.APISocket = cmd.Flag("api-socket").Value.String()
			log := newLogger(cmd)
			a, err := agent.New(cfg, log)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.StateDir, "state-dir", "/var/lib/xo", "directory for the node ID and the raft log and snapshots")
	f.StringVar(&cfg.PluginDir, "plugin-dir", "/run/docker/plugins", "directory where Docker looks for plugin sockets")
	f.StringVar(&cfg.DockerHost, "docker-host", "", "Docker engine address (default: $DOCKER_HOST or unix:///var/run/docker.sock)")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", "127.0.0.1:9180", "address for Prometheus /metrics (empty disables)")
	f.BoolVar(&cfg.Pprof, "debug-pprof", false, "also serve Go's profiler at /debug/pprof/ on the metrics address")
	f.StringVar(&cfg.DefaultPool, "default-pool", netdriver.DefaultPool, "pool that subnets come from when docker network create has no --subnet")
	f.IntVar(&cfg.DefaultBits, "default-pool-size", netdriver.DefaultBits, "prefix length of subnets carved from --default-pool")
	f.IntVar(&cfg.MTU, "mtu", netdriver.DefaultMTU, "container-side MTU of xoverlay networks")
	f.StringVar(&cfg.AdvertiseAddr, "advertise-addr", "", "this host's underlay address for VXLAN")
	f.StringVar(&cfg.Hostname, "hostname", host, "name of this node in the cluster")
	f.DurationVar(&cfg.Reconcile, "reconcile-interval", 30*time.Second, "how often the kernel is checked against the state")
	f.StringVar(&cfg.ListenAddr, "listen-addr", "0.0.0.0:2378", "cluster port: raft and node RPC over mutual TLS (after cluster init/join)")
	f.DurationVar(&cfg.HeartbeatEvery, "heartbeat-interval", 500*time.Millisecond, "how often this node tells the leader it is alive")
	f.DurationVar(&cfg.SuspectAfter, "node-suspect-after", 1500*time.Millisecond, "silence after which the leader marks a node suspect")
	f.DurationVar(&cfg.DownAfter, "node-down-after", 3*time.Second, "silence after which the leader marks a node down (its tasks are rescheduled)")
	f.StringVar(&cfg.DNS.Addr, "dns-listen", agent.DefaultDNSAddr+":53",
		"address of the discovery DNS server, put on the dummy device xo-dns0 (engines' \"dns\" setting names it; empty disables)")
	f.StringSliceVar(&cfg.DNS.Upstreams, "dns-upstream", nil, "resolver (IP or IP:PORT) for names outside the cluster, repeatable (default: the nameservers of /etc/resolv.conf)")
	f.DurationVar(&cfg.DNS.TTL, "dns-ttl", dnsd.DefaultTTL, "TTL of the cluster's DNS records (0 to 5m)")
	f.StringVar(&cfg.DNS.Domain, "dns-domain", dnsd.DefaultDomain, "cluster DNS domain: NAME.DOMAIN and NAME.NETWORK.DOMAIN resolve too")
	f.IntVar(&cfg.DNS.MaxConcurrent, "dns-forward-max", dnsd.DefaultMaxConcurrent, "forwarded DNS queries in flight; more get SERVFAIL at once")
	f.DurationVar(&cfg.DNS.ForwardTimeout, "dns-forward-timeout", dnsd.DefaultForwardTimeout, "deadline of a forwarded DNS query over all upstreams (SERVFAIL after it)")
	f.DurationVar(&cfg.DNS.NegativeTTL, "dns-negative-ttl", dnsd.DefaultNegativeTTL, "longest time a forwarded NXDOMAIN or NODATA answer is cached")
	f.IntVar(&cfg.DNS.CacheSize, "dns-cache-size", dnsd.DefaultCacheSize, "entries in the cache of forwarded answers (0 disables)")
	f.IntVar(&cfg.DNS.UDPWorkers, "dns-udp-workers", 0, "goroutines serving DNS over UDP, each on a socket of its own (0: one per CPU but one, at least one)")
	f.IntVar(&cfg.DNS.ClientQPS, "dns-client-qps", 0, "DNS queries per second answered per client address, more get REFUSED (0: no limit)")
	f.BoolVar(&cfg.DNSIntercept, "dns-intercept", true, "send queries of containers only on xoverlay networks from 127.0.0.11 straight to the discovery DNS server "+
		"(nftables in the container's namespace; label xo.dns-intercept=false opts a container out)")
	f.StringVar(&cfg.LBDataPlane, "lb-dataplane", "auto", "data plane of service VIPs: auto (probed: ipvs, else nftables, else userspace), ipvs, nftables or userspace")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", orchestrate.DefaultDrainTimeout, "longest wait of a drain (rolling updates, xo drain) for every node's acknowledgement; then it goes ahead and names the nodes that did not")
	f.BoolVar(&cfg.SimulateTasks, "simulate-tasks", false, "run task containers on a simulated engine (records kept in --state-dir), not the Docker engine (control-plane benchmarks)")
	_ = f.MarkHidden("simulate-tasks")
	return cmd
}

func newLogger(cmd *cobra.Command) *slog.Logger {
	var level slog.Level
	if f := cmd.Flag("log-level"); f != nil {
		if err := level.UnmarshalText([]byte(f.Value.String())); err != nil {
			fmt.Fprintf(os.Stderr, "unknown --log-level %q; using info\n", f.Value.String())
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
