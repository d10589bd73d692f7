//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/contrib/e2e/harness"
)

// meshAnswer is the part of the demo app's / answer the mesh tests read.
type meshAnswer struct {
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
}

// meshClient makes one connection per request (the mesh balances
// connections), with a bound on each.
var meshClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// meshGet asks url with Host host ("" keeps the URL's) and decodes a
// demo answer; any status but 200 is an error.
func meshGet(c *http.Client, url, host string) (meshAnswer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return meshAnswer{}, err
	}
	if host != "" {
		req.Host = host
	}
	res, err := c.Do(req)
	if err != nil {
		return meshAnswer{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if err != nil {
		return meshAnswer{}, fmt.Errorf("GET %s (Host %s): reading: %w", url, host, err)
	}
	if res.StatusCode != http.StatusOK {
		return meshAnswer{}, fmt.Errorf("GET %s (Host %s): %s: %s", url, host, res.Status, strings.TrimSpace(string(body)))
	}
	var a meshAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return meshAnswer{}, fmt.Errorf("GET %s (Host %s): %v: %q", url, host, err, body)
	}
	return a, nil
}

// meshAsk makes count requests and counts the answers per backend.
func meshAsk(t *testing.T, url, host string, count int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range count {
		a, err := meshGet(meshClient, url, host)
		if err != nil {
			t.Fatal(err)
		}
		seen[a.Hostname]++
	}
	return seen
}

// meshReplicas returns the demo hostnames (short container IDs) of a
// service's running tasks, and the host index of each.
func meshReplicas(t *testing.T, n *node, service string, want int) map[string]int {
	t.Helper()
	running(t, n, service, want)
	out := map[string]int{}
	for _, tk := range n.tasks(t, service) {
		if tk.DesiredState == "running" && tk.State == "running" {
			i, err := strconv.Atoi(strings.TrimPrefix(tk.Node, "h"))
			if err != nil {
				t.Fatalf("task %s on node %q", tk.Name, tk.Node)
			}
			out[tk.ContainerID[:12]] = i
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// meshRefused reports whether nothing accepts TCP on addr.
func meshRefused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s still accepts connections", addr)
	}
	return nil
}

// meshUDPEcho sends msg to addr and returns the answer.
func meshUDPEcho(addr, msg string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// meshWebSocket opens a WebSocket to /ws through addr with Host host,
// sends msg in a masked text frame and returns the echoed frame's text.
func meshWebSocket(addr, host, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	key := base64.StdEncoding.EncodeToString([]byte("xo-mesh-e2e-key!"))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", host, key)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", fmt.Errorf("upgrade answer: %w", err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return "", fmt.Errorf("upgrade answer %s %v", res.Status, res.Header)
	}
	mask := [4]byte{7, 1, 9, 3}
	frame := []byte{0x81, 0x80 | byte(len(msg))}
	frame = append(frame, mask[:]...)
	for i := range len(msg) {
		frame = append(frame, msg[i]^mask[i%4])
	}
	if _, err := c.Write(frame); err != nil {
		return "", err
	}
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return "", fmt.Errorf("echo frame: %w", err)
	}
	n := int(h[1] & 0x7F)
	if n == 126 {
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return "", err
		}
		n = int(binary.BigEndian.Uint16(b[:]))
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return "", err
	}
	if h[0] != 0x81 {
		return "", fmt.Errorf("echo frame header %#x", h[0])
	}
	return string(payload), nil
}

// meshLeftovers lists what the published ports left on host i: the
// nftables table, the ingress container, the DOCKER-USER rules.
func meshLeftovers(n *node) error {
	var left []string
	out, err := n.c.Exec(n.i, "nft", "list", "tables")
	if err != nil {
		return err
	}
	if strings.Contains(out, "xo-ingress") {
		left = append(left, "nftables table xo-ingress")
	}
	ctrs, err := n.docker("ps", "-aq", "--filter", "label=xo.ingress")
	if err != nil {
		return err
	}
	if strings.TrimSpace(ctrs) != "" {
		left = append(left, "ingress container "+strings.TrimSpace(ctrs))
	}
	rules, err := n.c.Exec(n.i, "iptables", "-S", "DOCKER-USER")
	if err != nil {
		return err
	}
	if strings.Contains(rules, "xo routing mesh") {
		left = append(left, "DOCKER-USER rules")
	}
	if len(left) > 0 {
		return fmt.Errorf("h%d still has %s", n.i, strings.Join(left, ", "))
	}
	return nil
}

// TestRoutingMesh is issue 6's routing mesh and HTTP proxy on 3 hosts.
func TestRoutingMesh(t *testing.T) {
	c, hs := startCluster3(t)
	h1 := hs[0]
	joinAll(t, h1, hs[1], hs[2])
	h1.mustDocker(t, "network", "create", "-d", "xoverlay", "--ipam-driver", "xoverlay", "--subnet", "10.170.0.0/24", "appnet")
	for _, n := range hs {
		hasNetwork(t, n, "appnet", "10.170.0.0/24")
	}
	url := func(i, port int) string { return fmt.Sprintf("http://%s:%d/", c.HostAddr(i), port) }

	t.Run("a published port answers on every host, from every replica", func(t *testing.T) {
		h1.mustXO(t, "service", "create", "--name", "web", "--replicas", "2", "--network", "appnet",
			"--publish", "8080:8080", "--publish", "8080:8080/udp", "xo-demo:v1")
		web := meshReplicas(t, h1, "web", 2)
		for i := 1; i <= 3; i++ {
			harness.Eventually(t, 30*time.Second, func() error {
				_, err := meshGet(meshClient, url(i, 8080), "")
				return err
			})
			seen := meshAsk(t, url(i, 8080), "", 24)
			if got, want := sortedKeys(seen), sortedKeys(web); !slices.Equal(got, want) {
				t.Fatalf("h%d:8080 answered from %v, want both replicas %v (tasks on h%v)", i, seen, want, web)
			}
			harness.Eventually(t, 10*time.Second, func() error {
				got, err := meshUDPEcho(fmt.Sprintf("%s:8080", c.HostAddr(i)), "ping mesh")
				if err != nil || got != "ping mesh" {
					return fmt.Errorf("UDP h%d:8080: %q %v", i, got, err)
				}
				return nil
			})
		}
	})

	t.Run("a second service on the port is refused, nothing stored", func(t *testing.T) {
		out, err := hs[1].xo("service", "create", "--name", "web2", "--network", "appnet", "--publish", "8080:9090", "xo-demo:v1")
		if err == nil || !strings.Contains(out, "port 8080/tcp is already published by service web") ||
			!strings.Contains(out, "choose another published port") {
			t.Fatalf("web2 on web's port: %v\n%s", err, out)
		}
		if out := h1.mustXO(t, "service", "ls", "-q", "--filter", "name=web2"); strings.TrimSpace(out) != "" {
			t.Fatalf("web2 was stored: %q", out)
		}
	})

	t.Run("mode host: only where a task runs", func(t *testing.T) {
		h1.mustXO(t, "service", "create", "--name", "hostp", "--network", "appnet",
			"--publish", "published=8082,target=8080,mode=host", "xo-demo:v1")
		var on int
		for _, i := range meshReplicas(t, h1, "hostp", 1) {
			on = i
		}
		for i := 1; i <= 3; i++ {
			harness.Eventually(t, 20*time.Second, func() error {
				_, err := meshGet(meshClient, url(i, 8082), "")
				if i == on {
					return err
				}
				if err == nil {
					return fmt.Errorf("h%d:8082 answers, but the task runs on h%d", i, on)
				}
				return nil
			})
		}
		h1.mustXO(t, "service", "rm", "hostp")
	})

	t.Run("HTTP: routed by host and by path on one port", func(t *testing.T) {
		h1.mustXO(t, "service", "create", "--name", "api", "--replicas", "2", "--network", "appnet", "-e", "VERSION=api",
			"--publish", "published=8081,target=8080,mode=http", "--label", "xo.http.host=app.example.com", "xo-demo:v1")
		h1.mustXO(t, "service", "create", "--name", "slow", "--network", "appnet", "-e", "VERSION=slow",
			"--publish", "published=8081,target=8080,mode=http", "--label", "xo.http.path=/sleep", "xo-demo:v1")
		api := meshReplicas(t, h1, "api", 2)
		for i := 1; i <= 3; i++ {
			base := url(i, 8081)
			harness.Eventually(t, 30*time.Second, func() error {
				_, err := meshGet(meshClient, base, "app.example.com")
				return err
			})
			seen := map[string]int{}
			for range 16 {
				a, err := meshGet(meshClient, base, "app.example.com")
				if err != nil || a.Version != "api" {
					t.Fatalf("h%d app.example.com/: %+v %v", i, a, err)
				}
				seen[a.Hostname]++
			}
			if got, want := sortedKeys(seen), sortedKeys(api); !slices.Equal(got, want) {
				t.Fatalf("h%d: api answered from %v, want %v", i, seen, want)
			}
			harness.Eventually(t, 20*time.Second, func() error {
				a, err := meshGet(meshClient, base+"sleep?d=1ms", "other.example.com")
				if err == nil && a.Version != "slow" {
					err = fmt.Errorf("/sleep answered by %+v, want slow", a)
				}
				return err
			})
			res, err := meshClient.Get(base)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Fatalf("h%d: no route for %s: %s, want 404", i, base, res.Status)
			}
		}
	})

	t.Run("a backend killed mid-stream: no request fails", func(t *testing.T) {
		api := meshReplicas(t, h1, "api", 2)
		victim := sortedKeys(api)[0]
		client := &http.Client{Timeout: 60 * time.Second} // keep-alive to the proxy
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		var fails []string
		counts := map[string]int{}
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				a, err := meshGet(client, url(3, 8081), "app.example.com")
				mu.Lock()
				if err != nil {
					fails = append(fails, fmt.Sprintf("request %d: %v", i, err))
				}
				counts[a.Hostname]++
				mu.Unlock()
			}
		})
		total := func() int {
			mu.Lock()
			defer mu.Unlock()
			n := 0
			for _, v := range counts {
				n += v
			}
			return n
		}
		harness.Eventually(t, 30*time.Second, func() error {
			if n := total(); n < 50 {
				return fmt.Errorf("%d requests so far", n)
			}
			return nil
		})
		hs[api[victim]-1].mustDocker(t, "kill", victim)
		before := total()
		harness.Eventually(t, 60*time.Second, func() error {
			if n := total(); n < before+200 {
				return fmt.Errorf("%d requests since the kill", n-before)
			}
			return nil
		})
		cancel()
		wg.Wait()
		if len(fails) > 0 {
			t.Fatalf("%d of %d requests failed around the kill of %s: %v", len(fails), total(), victim, fails)
		}
		t.Logf("%d requests, none failed; answers per backend: %v", total(), counts)
		meshReplicas(t, h1, "api", 2) // replaced
	})

	t.Run("WebSocket through the proxy", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			got, err := meshWebSocket(fmt.Sprintf("%s:8081", c.HostAddr(i)), "app.example.com", "hello over the mesh")
			if err != nil || got != "hello over the mesh" {
				t.Fatalf("h%d: WebSocket echo %q, %v", i, got, err)
			}
		}
	})

	t.Run("removed: the ports stop answering, no rules remain", func(t *testing.T) {
		h1.mustXO(t, "service", "rm", "web")
		for i := 1; i <= 3; i++ {
			harness.Eventually(t, 20*time.Second, func() error { return meshRefused(fmt.Sprintf("%s:8080", c.HostAddr(i))) })
		}
		h1.mustXO(t, "service", "rm", "api", "slow")
		for i, n := range hs {
			harness.Eventually(t, 20*time.Second, func() error {
				if err := meshRefused(fmt.Sprintf("%s:8081", c.HostAddr(i+1))); err != nil {
					return err
				}
				return meshLeftovers(n)
			})
		}
		// Nothing holds the network any more.
		harness.Eventually(t, 20*time.Second, func() error {
			_, err := h1.xo("network", "rm", "appnet")
			return err
		})
		for _, n := range hs {
			for _, line := range strings.Split(n.agent.Log(), "\n") {
				if strings.Contains(line, "component=ingress") && !strings.Contains(line, "level=INFO") && !strings.Contains(line, "level=DEBUG") {
					t.Logf("h%d: %s", n.i, line)
				}
			}
		}
	})
}
