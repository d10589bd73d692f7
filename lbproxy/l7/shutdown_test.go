package l7

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestShutdownLetsRequestsFinish(t *testing.T) {
	checkGoroutines(t)
	slow, started, release := slowBackend(t)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(slow.addr())}))
	c := newClient(t)
	got := make(chan int, 1)
	go func() {
		resp, err := c.Get(p.url("/"))
		if err != nil {
			got <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	eventually(t, "the listener to close", func() bool {
		_, err := http.Get(p.url("/"))
		return err != nil
	})
	close(release)
	if code := <-got; code != 200 {
		t.Errorf("in-flight request during Shutdown: %d", code)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownTimeoutAborts(t *testing.T) {
	checkGoroutines(t)
	slow, started, release := slowBackend(t)
	defer close(release)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(slow.addr())}))
	c := newClient(t)
	got := make(chan error, 1)
	go func() {
		resp, err := c.Get(p.url("/"))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		got <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Errorf("Shutdown: %v, want the context's deadline", err)
	}
	<-got // the request ended (with an error or a 504): no goroutine is left waiting
}
