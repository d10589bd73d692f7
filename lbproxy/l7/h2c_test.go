package l7

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// h2cClient speaks HTTP/2 over cleartext TCP with prior knowledge.
func h2cClient(t *testing.T) *http.Client {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestH2C(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	c := h2cClient(t)

	var wg sync.WaitGroup
	for i := range 20 { // concurrent streams on one connection
		wg.Go(func() {
			body := strings.Repeat("x", i*1000)
			resp, err := c.Post(p.url("/h2?i=1"), "text/plain", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("client spoke %s, want HTTP/2", resp.Proto)
			}
			var e echoed
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Error(err)
				return
			}
			if e.Body != body || e.URI != "/h2?i=1" || e.Proto != "HTTP/1.1" {
				t.Errorf("backend saw %s %s body %d bytes", e.Proto, e.URI, len(e.Body))
			}
			if got := e.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
				t.Errorf("X-Forwarded-For %q", got)
			}
		})
	}
	wg.Wait()

	// An answer without a length streams over HTTP/2 too.
	resp, err := c.Get(p.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func TestH2CNotFound(t *testing.T) {
	p := startProxy(t, Options{})
	resp, err := h2cClient(t).Get(p.url("/nothing"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || !strings.Contains(string(b), "no route") {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}
