package connpool

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// Options.Dial replaces the dialer: it gets the address and a deadline,
// and its failure is a *DialError.
func TestCustomDial(t *testing.T) {
	s := newServer(t)
	var calls []string
	var deadline bool
	fail := false
	p := New(s.ln.Addr().String(), Options{DialTimeout: time.Second, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		calls = append(calls, network+" "+addr)
		_, deadline = ctx.Deadline()
		if fail {
			return nil, errors.New("no route")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	defer p.Close()
	c, err := p.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(calls) != 1 || calls[0] != "tcp "+s.ln.Addr().String() || !deadline {
		t.Fatalf("dial calls %q, deadline %v", calls, deadline)
	}
	fail = true
	var de *DialError
	if _, err := p.Get(context.Background()); !errors.As(err, &de) || de.Addr != s.ln.Addr().String() {
		t.Fatalf("a failed dial: %v", err)
	}
}
