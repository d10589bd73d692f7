package l7

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load runs GETs from workers until stop is closed and reports the
// failures (anything but a 200 from a backend).
func load(t *testing.T, url string, workers int, stop chan struct{}) (ok, failed *atomic.Int64, wait func()) {
	ok, failed = new(atomic.Int64), new(atomic.Int64)
	var wg sync.WaitGroup
	for range workers {
		c := newClient(t)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(url)
				if err != nil {
					failed.Add(1)
					t.Logf("request failed: %v", err)
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Backend") == "" {
					failed.Add(1)
					t.Logf("request failed: %d %q %v", resp.StatusCode, b, err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	return ok, failed, wg.Wait
}

// TestUpdatesUnderLoad: configurations swapped continually under load
// drop no request.
func TestUpdatesUnderLoad(t *testing.T) {
	checkGoroutines(t)
	var addrs []string
	for _, n := range []string{"a", "b", "c"} {
		addrs = append(addrs, startBackend(t, named(n)).addr())
	}
	p := startProxy(t, Options{})
	configs := [][]string{{addrs[0], addrs[1]}, {addrs[1], addrs[2]}, {addrs[2], addrs[0]}, {addrs[1]}}
	p.update(t, oneUpstream(Upstream{Servers: servers(configs[0]...)}))
	stop := make(chan struct{})
	ok, failed, wait := load(t, p.url("/"), 4, stop)
	for i := range 60 {
		p.update(t, oneUpstream(Upstream{Servers: servers(configs[i%len(configs)]...)}))
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("%d requests failed, %d succeeded across 60 updates", failed.Load(), ok.Load())
	}
}

// TestBackendKilledUnderLoad: a backend that dies (its connections
// reset, its port closed) costs no request: they go to the others.
func TestBackendKilledUnderLoad(t *testing.T) {
	checkGoroutines(t)
	victim := startBackend(t, named("victim"))
	var addrs []string
	for i := range 2 {
		addrs = append(addrs, startBackend(t, named(fmt.Sprint("b", i))).addr())
	}
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(append(addrs, victim.addr())...)}))
	stop := make(chan struct{})
	ok, failed, wait := load(t, p.url("/"), 4, stop)
	eventually(t, "traffic on the victim", func() bool { return victim.hits.Load() > 20 })
	victim.CloseClientConnections()
	victim.Close()
	before := ok.Load()
	eventually(t, "more traffic after the kill", func() bool { return ok.Load() > before+200 })
	close(stop)
	wait()
	if failed.Load() != 0 {
		t.Errorf("%d requests failed when a backend died (%d succeeded)", failed.Load(), ok.Load())
	}
}
