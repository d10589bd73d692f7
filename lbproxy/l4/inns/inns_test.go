//go:build linux

package inns_test

import (
	"os"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/lbproxy/l4/inns"
	"github.com/xoverlay/xoverlay/lbproxy/l4/l4test"
)

func TestDoRunsInNamespace(t *testing.T) {
	n := l4test.NewNet(t, 0)
	ns, err := inns.Open(n.Client.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := ns.Do(func() (err error) {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == self {
		t.Fatalf("Do ran in the caller's namespace %s", self)
	}
	after, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil || after != self {
		t.Fatalf("caller's namespace changed: %s -> %s (%v)", self, after, err)
	}
	if _, err := inns.Open("/nonexistent"); err == nil || !strings.Contains(err.Error(), "/nonexistent") {
		t.Fatalf("Open of a missing path: %v", err)
	}
}
