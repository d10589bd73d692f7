//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// TTLs that tell who answered a container's query to 127.0.0.11: dnsd
// writes the agent's --dns-ttl (1 s), Docker's embedded resolver 600 s.
const (
	dnsdTTL   = 1
	dockerTTL = 600
)

// testFastPath is the DNS fast path on h2: a container only on xoverlay
// networks has its queries to 127.0.0.11 answered by dnsd (UDP and TCP),
// local, cross-host and forwarded names alike; a container also on a
// bridge network, or labelled xo.dns-intercept=false, keeps Docker's
// resolver and still resolves all of them. Needs timetrack on h2, mongo
// on h3 (appnet), and outsider on h2 (othernet).
func testFastPath(t *testing.T, h2, h3 *node) {
	local, cross := "timetrack", "mongo"
	localIP, crossIP := h2.containerIP(t, local, "appnet"), h3.containerIP(t, cross, "appnet")
	external := "www." + strings.TrimSuffix(harness.UpstreamZone, ".")

	// Events are handled in order: once fast has the fast path, the start
	// of optout (earlier) has been handled too.
	h2.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "optout", "--label", "xo.dns-intercept=false", "xo-probe")
	h2.mustDocker(t, "run", "-d", "--net", "appnet", "--name", "fast", "xo-probe")
	waitFastPath(t, h2, "fast", true)
	if fastPath(t, h2, "optout") {
		t.Fatal("optout (label xo.dns-intercept=false) got the fast path")
	}
	// The scoping test above ran through the fast path: outsider has it.
	if !fastPath(t, h2, "outsider") {
		t.Fatal("outsider (only on othernet) has no fast path")
	}

	resolvesAll := func(t *testing.T, container string, ttl uint32) {
		t.Helper()
		for _, network := range []string{"udp", "tcp"} {
			for name, ip := range map[string]string{local: localIP, cross: crossIP, external: harness.UpstreamAnswer} {
				a, err := askDNS(t, h2, container, network, name)
				if err != nil {
					t.Fatalf("%s asks 127.0.0.11 over %s for %s: %v", container, network, name, err)
				}
				if a.ip != ip {
					t.Fatalf("%s asks 127.0.0.11 over %s for %s: %s, want %s", container, network, name, a.ip, ip)
				}
				if name == local && a.ttl != ttl { // Docker forwards the others to dnsd
					t.Fatalf("%s asks 127.0.0.11 over %s for %s: TTL %d, want %d (%s)", container, network, name, a.ttl, ttl, who(ttl))
				}
			}
		}
		// The Go resolver in the container, as applications use it.
		if got, err := resolve(h2, container, local); err != nil || got != localIP {
			t.Fatalf("%s resolves %s: %q %v", container, local, got, err)
		}
	}
	t.Run("a container only on xoverlay networks asks dnsd", func(t *testing.T) { resolvesAll(t, "fast", dnsdTTL) })
	t.Run("an opted-out container asks Docker", func(t *testing.T) { resolvesAll(t, "optout", dockerTTL) })

	t.Run("a container also on a bridge network asks Docker", func(t *testing.T) {
		h2.mustDocker(t, "network", "create", "--subnet", "10.139.0.0/24", "plainbr")
		h2.mustDocker(t, "network", "connect", "plainbr", "fast")
		waitFastPath(t, h2, "fast", false)
		resolvesAll(t, "fast", dockerTTL)
		h2.mustDocker(t, "run", "-d", "--net", "plainbr", "--name", "mixed", "xo-probe")
		h2.mustDocker(t, "network", "connect", "appnet", "mixed")
		resolvesAll(t, "mixed", dockerTTL)
		if fastPath(t, h2, "mixed") {
			t.Fatal("mixed (on plainbr and appnet) has the fast path")
		}
		h2.mustDocker(t, "network", "disconnect", "plainbr", "fast")
		waitFastPath(t, h2, "fast", true)
		resolvesAll(t, "fast", dnsdTTL)
	})

	t.Run("a restarted container gets it in its new namespace", func(t *testing.T) {
		h2.mustDocker(t, "restart", "-t", "0", "fast")
		waitFastPath(t, h2, "fast", true)
		resolvesAll(t, "fast", dnsdTTL)
		// fast and outsider at least.
		out := h2.c.MustExec(t, h2.i, h2.c.Bin("probe"), "http", "-n", "1", "http://127.0.0.1:9180/metrics")
		var active float64
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "xo_dns_intercept_containers "); ok {
				active, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
			}
		}
		if active < 2 {
			t.Fatalf("h2: xo_dns_intercept_containers %v, want at least 2 (fast, outsider)", active)
		}
	})
	for _, c := range []string{"fast", "optout", "mixed"} {
		h2.mustDocker(t, "rm", "-f", c)
	}
	h2.mustDocker(t, "network", "rm", "plainbr")
}

func who(ttl uint32) string {
	if ttl == dnsdTTL {
		return "dnsd"
	}
	return "Docker's embedded resolver"
}

// fastPath tells whether a container's namespace holds the fast path's
// table, with its DNAT to dnsd.
func fastPath(t *testing.T, n *node, container string) bool {
	t.Helper()
	pid := n.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", container)
	out, err := n.c.Exec(n.i, "nsenter", "-t", pid, "-n", "nft", "list", "table", "ip", "xo_dns")
	switch {
	case err == nil && strings.Contains(out, "dnat to 169.254.53.53:53"):
		return true
	case err != nil && strings.Contains(err.Error()+out, "No such file or directory"):
		return false
	}
	t.Fatalf("h%d: nft list table ip xo_dns in %s: %v\n%s", n.i, container, err, out)
	return false
}

func waitFastPath(t *testing.T, n *node, container string, want bool) {
	t.Helper()
	harness.Eventually(t, 5*time.Second, func() error {
		if got := fastPath(t, n, container); got != want {
			return fmt.Errorf("h%d: %s has the fast path: %v, want %v", n.i, container, got, want)
		}
		return nil
	})
}

type dnsAnswer struct {
	ip  string
	ttl uint32
}

// askDNS asks 127.0.0.11:53 for name's A record from inside a container's
// network namespace (the socket is made there), over "udp" or "tcp".
func askDNS(t *testing.T, n *node, container, network, name string) (dnsAnswer, error) {
	t.Helper()
	pid := n.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", container)
	conn, err := dialIn("/proc/"+pid+"/ns/net", network, "127.0.0.11:53")
	if err != nil {
		return dnsAnswer{}, err
	}
	c := &dns.Conn{Conn: conn}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		return dnsAnswer{}, err
	}
	q := new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA)
	if err := c.WriteMsg(q); err != nil {
		return dnsAnswer{}, err
	}
	r, err := c.ReadMsg()
	if err != nil {
		return dnsAnswer{}, err
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return dnsAnswer{ip: a.A.String(), ttl: a.Hdr.Ttl}, nil
		}
	}
	return dnsAnswer{}, fmt.Errorf("no A record: %s", dns.RcodeToString[r.Rcode])
}

// dialIn dials from inside the network namespace at path, on a thread
// that goes back to the test's namespace before it is unlocked (or stays
// locked, and is dropped, when it cannot).
func dialIn(path, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{err: err}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			res <- result{err: err}
			return
		}
		c, err := net.DialTimeout(network, addr, 3*time.Second)
		if serr := netns.Set(orig); serr != nil {
			if c != nil {
				c.Close()
			}
			res <- result{err: errors.Join(err, serr)}
			return
		}
		runtime.UnlockOSThread()
		res <- result{c, err}
	}()
	r := <-res
	return r.c, r.err
}
