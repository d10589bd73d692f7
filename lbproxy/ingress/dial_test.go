//go:build linux

package ingress

import (
	"bufio"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
)

// The dialer's connections start in the namespace it was given: the
// backend sees that namespace's address, not the test's.
func TestDialerDialsFromNamespace(t *testing.T) {
	n := l4test.NewNet(t, 1)
	var d nsDialer
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), l4test.IOTimeout)
	defer cancel()
	b1 := n.Backends[0].TCP().String()
	if _, err := d.DialContext(ctx, "tcp", b1); !errors.Is(err, errNoSandbox) {
		t.Fatalf("dial without a namespace: %v", err)
	}
	if err := d.Set(n.Client.Path()); err != nil {
		t.Fatal(err)
	}
	if d.Path() != n.Client.Path() {
		t.Fatalf("path %q", d.Path())
	}
	for range 3 {
		c, err := d.DialContext(ctx, "tcp", b1)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(l4test.IOTimeout))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || !strings.HasPrefix(line, "b1 "+l4test.ClientAddr.String()+":") {
			t.Fatalf("backend saw %q (%v), want the client namespace's address %s", line, err, l4test.ClientAddr)
		}
	}
	// Another namespace: the router's address on the backend's link.
	if err := d.Set(n.Router.Path()); err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(ctx, "tcp", b1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(l4test.IOTimeout))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "b1 10.77.11.") {
		t.Fatalf("from the router: %q %v", line, err)
	}
	if err := d.Set("/nonexistent"); err == nil {
		t.Fatal("Set of a missing namespace")
	}
}
