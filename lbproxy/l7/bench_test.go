package l7

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

// benchBody is what the benchmark backend answers.
var benchBody = []byte("hello from the backend\n")

func benchBackend(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(benchBody)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchClient is a keep-alive client with enough idle connections for
// the parallel load.
func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 256, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func runLoad(b *testing.B, c *http.Client, url string) {
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkProxy: keep-alive GETs in parallel through the proxy to one
// httptest backend over loopback.
func BenchmarkProxy(b *testing.B) {
	be := benchBackend(b)
	s, err := New(Options{MaxIdlePerBackend: 512})
	if err != nil {
		b.Fatal(err)
	}
	addr := be.Listener.Addr().String()
	if err := s.Update(Config{
		Routes:    []Route{{Path: "/", Upstream: "web"}},
		Upstreams: []Upstream{{Name: "web", Servers: []upstream.Server{{Addr: addr}}}},
	}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	runLoad(b, benchClient(b), "http://"+ln.Addr().String()+"/")
}

// BenchmarkDirect is the limit: the same load straight to the backend.
func BenchmarkDirect(b *testing.B) {
	be := benchBackend(b)
	runLoad(b, benchClient(b), be.URL+"/")
}
