package connpool

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// server accepts on loopback and keeps the connections; close(i) closes
// the i-th one from the server side.
type server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newServer(t *testing.T) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

func (s *server) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReuseLIFO(t *testing.T) {
	s := newServer(t)
	p := New(s.ln.Addr().String(), Options{})
	defer p.Close()
	ctx := context.Background()
	a, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Get(ctx)
	if a.Reused || b.Reused {
		t.Error("fresh connections marked reused")
	}
	p.Put(a)
	p.Put(b)
	if got, _ := p.Get(ctx); got != b || !got.Reused {
		t.Errorf("Get returned %p (reused %v), want the last one put back %p", got, got.Reused, b)
	}
	if st := p.Stats(); st.Idle != 1 || st.Open != 2 {
		t.Errorf("stats %+v", st)
	}
	waitFor(t, "2 accepted", func() bool { return s.accepted() == 2 })
}

func TestMaxIdle(t *testing.T) {
	s := newServer(t)
	p := New(s.ln.Addr().String(), Options{MaxIdle: 2})
	defer p.Close()
	var cs []*Conn
	for range 5 {
		c, err := p.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		p.Put(c)
	}
	if st := p.Stats(); st.Idle != 2 || st.Open != 2 {
		t.Errorf("stats %+v, want 2 idle, 2 open (the rest closed)", st)
	}
}

func TestDeadIdleConnectionSkipped(t *testing.T) {
	s := newServer(t)
	p := New(s.ln.Addr().String(), Options{CheckAfter: time.Nanosecond})
	defer p.Close()
	c, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Put(c)
	waitFor(t, "accept", func() bool { return s.accepted() == 1 })
	s.closeAll() // the backend closes the idle connection
	waitFor(t, "the close to show", func() bool { return !alive(c.Conn) })
	got, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got == c || got.Reused {
		t.Error("Get handed out the connection the backend closed")
	}
}

func TestIdleTimeout(t *testing.T) {
	s := newServer(t)
	p := New(s.ln.Addr().String(), Options{IdleTimeout: 20 * time.Millisecond})
	defer p.Close()
	c, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Put(c)
	waitFor(t, "the idle connection to be closed", func() bool { return p.Stats().Open == 0 })
}

func TestDrainAndUndrain(t *testing.T) {
	s := newServer(t)
	p := New(s.ln.Addr().String(), Options{})
	defer p.Close()
	ctx := context.Background()
	idle, _ := p.Get(ctx)
	busy, _ := p.Get(ctx)
	p.Put(idle)
	p.Drain()
	if st := p.Stats(); st.Idle != 0 || st.Open != 1 {
		t.Errorf("after Drain %+v, want the idle one closed, the busy one open", st)
	}
	p.Put(busy)
	if st := p.Stats(); st.Open != 0 {
		t.Errorf("a connection given back while draining was kept: %+v", st)
	}
	p.Undrain()
	c, err := p.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Put(c)
	if st := p.Stats(); st.Idle != 1 {
		t.Errorf("after Undrain %+v, want it kept", st)
	}
}

func TestSweepAndAbort(t *testing.T) {
	s := newServer(t)
	p := New(s.ln.Addr().String(), Options{})
	ctx := context.Background()
	late, _ := p.Get(ctx)
	ontime, _ := p.Get(ctx)
	now := time.Now().UnixNano()
	late.Arm(now - 1)
	ontime.Arm(now + int64(time.Hour))
	p.Sweep(now)
	var ne net.Error
	if _, err := late.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read on a swept connection: %v, want a timeout", err)
	}
	if !late.Aborted() || ontime.Aborted() {
		t.Errorf("aborted: late %v, on time %v", late.Aborted(), ontime.Aborted())
	}
	late.Arm(now + int64(time.Hour)) // cannot be revived
	p.Put(late)
	if p.Stats().Open != 1 {
		t.Errorf("a swept connection went back to the pool")
	}
	p.Abort()
	if _, err := ontime.Read(make([]byte, 1)); err == nil {
		t.Error("read after Abort succeeded")
	}
	if _, err := p.Get(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Abort: %v", err)
	}
	ontime.Close()
}

func TestDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := New(addr, Options{})
	defer p.Close()
	_, err = p.Get(context.Background())
	var de *DialError
	if !errors.As(err, &de) || de.Addr != addr {
		t.Errorf("err %v, want a *DialError for %s", err, addr)
	}
}
