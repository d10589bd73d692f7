package dnsd

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	var c Config
	c.Defaults()
	want := Config{Addr: DefaultAddr, Domain: DefaultDomain, ForwardTimeout: DefaultForwardTimeout,
		MaxConcurrent: DefaultMaxConcurrent, NegativeTTL: DefaultNegativeTTL}
	if !slices.Equal(c.Upstreams, want.Upstreams) || c.Addr != want.Addr || c.Domain != want.Domain ||
		c.ForwardTimeout != want.ForwardTimeout || c.MaxConcurrent != want.MaxConcurrent ||
		c.NegativeTTL != want.NegativeTTL || c.TTL != 0 || c.CacheSize != 0 || c.ClientQPS != 0 ||
		c.UDPWorkers != DefaultUDPWorkers() {
		t.Fatalf("Defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// Set values stay.
	c = Config{Addr: "127.0.0.1:5353", TTL: 5 * time.Second, CacheSize: 7}
	c.Defaults()
	if c.Addr != "127.0.0.1:5353" || c.TTL != 5*time.Second || c.CacheSize != 7 {
		t.Fatalf("Defaults changed set values: %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		what string
		edit func(*Config)
		flag string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"ttl 0", func(c *Config) { c.TTL = 0 }, ""},
		{"ttl 300s", func(c *Config) { c.TTL = 300 * time.Second }, ""},
		{"ttl too long", func(c *Config) { c.TTL = 301 * time.Second }, "--dns-ttl"},
		{"ttl negative", func(c *Config) { c.TTL = -time.Second }, "--dns-ttl"},
		{"listen without port", func(c *Config) { c.Addr = "169.254.53.53" }, "--dns-listen"},
		{"listen host name", func(c *Config) { c.Addr = "localhost:53" }, "--dns-listen"},
		{"listen port 0", func(c *Config) { c.Addr = "127.0.0.1:0" }, ""},
		{"listen v6", func(c *Config) { c.Addr = "[::1]:53" }, ""},
		{"upstream ip:port", func(c *Config) { c.Upstreams = []string{"192.0.2.53:53", "[2001:db8::53]:5353"} }, ""},
		{"upstream bare ip", func(c *Config) { c.Upstreams = []string{"192.0.2.53"} }, ""},
		{"upstream name", func(c *Config) { c.Upstreams = []string{"dns.example:53"} }, "--dns-upstream"},
		{"upstream port 0", func(c *Config) { c.Upstreams = []string{"192.0.2.53:0"} }, "--dns-upstream"},
		{"upstream is ourselves", func(c *Config) { c.Upstreams = []string{"169.254.53.53"} }, "--dns-upstream"},
		{"domain dotted", func(c *Config) { c.Domain = "cluster.local." }, ""},
		{"domain bad", func(c *Config) { c.Domain = "a b" }, "--dns-domain"},
		{"domain empty label", func(c *Config) { c.Domain = "a..b" }, "--dns-domain"},
		{"forward max 0", func(c *Config) { c.MaxConcurrent = -1 }, "--dns-forward-max"},
		{"cache negative", func(c *Config) { c.CacheSize = -1 }, "--dns-cache-size"},
		{"cache huge", func(c *Config) { c.CacheSize = 1 << 30 }, "--dns-cache-size"},
		{"qps negative", func(c *Config) { c.ClientQPS = -5 }, "--dns-client-qps"},
		{"udp workers negative", func(c *Config) { c.UDPWorkers = -1 }, "--dns-udp-workers"},
		{"udp workers too many", func(c *Config) { c.UDPWorkers = 100000 }, "--dns-udp-workers"},
		{"forward timeout negative", func(c *Config) { c.ForwardTimeout = -time.Second }, "--dns-forward-timeout"},
		{"negative ttl negative", func(c *Config) { c.NegativeTTL = -time.Second }, "--dns-negative-ttl"},
		{"invalid host addr", func(c *Config) { c.HostAddrs = []netip.Addr{{}} }, "host addresses"},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			c := Config{TTL: DefaultTTL, CacheSize: DefaultCacheSize}
			c.Defaults()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.flag == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.flag != "" && err == nil:
				t.Fatalf("no error, want one naming %s", tc.flag)
			case tc.flag != "" && !strings.Contains(err.Error(), tc.flag):
				t.Fatalf("error %q does not name %s", err, tc.flag)
			case err != nil && !strings.HasPrefix(err.Error(), "dnsd: "):
				t.Fatalf("error %q lacks the dnsd: prefix", err)
			}
		})
	}
}

func TestNewRejectsInvalid(t *testing.T) {
	if _, err := New(Config{TTL: time.Hour}, nil, nil); err == nil || !strings.Contains(err.Error(), "--dns-ttl") {
		t.Fatalf("New: %v", err)
	}
}

func TestUpstreamAddrs(t *testing.T) {
	got, err := upstreamAddrs([]string{"192.0.2.1", "192.0.2.2:5353", "2001:db8::1", "[2001:db8::2]:53"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.1:53", "192.0.2.2:5353", "[2001:db8::1]:53", "[2001:db8::2]:53"}
	if !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

func TestParseResolvConf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	content := `# generated
search example.com
nameserver 192.0.2.53
nameserver 169.254.53.53   # ourselves
nameserver  2001:db8::53
nameserver fe80::1%eth0
nameserver 192.0.2.53
nameserver not-an-ip
;nameserver 192.0.2.99
options ndots:2
nameserver
`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ParseResolvConf(path, netip.MustParseAddr("169.254.53.53"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53", "[fe80::1%eth0]:53"}
	if !slices.Equal(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
	if _, err := upstreamAddrs(got); err != nil {
		t.Fatalf("parsed upstreams do not validate: %v", err)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("search x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ParseResolvConf(empty); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	if _, err := ParseResolvConf(filepath.Join(dir, "missing")); err == nil || !strings.HasPrefix(err.Error(), "dnsd: ") {
		t.Fatalf("missing file: %v", err)
	}
}
