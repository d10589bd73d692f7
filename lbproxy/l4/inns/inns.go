//go:build linux

// Package inns runs code inside another network namespace.
//
// A socket belongs to the namespace of the thread that creates it, for its
// whole life. So code that opens listeners or dials from a container's
// namespace runs fn in Do, and the resulting sockets may then be used
// from any goroutine.
package inns

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// NS is an open network namespace. Holding it open keeps the namespace
// alive even if its path is unmounted.
type NS struct {
	h    netns.NsHandle
	path string
}

// Open opens the namespace at path (/var/run/netns/NAME, /proc/PID/ns/net
// or Docker's sandbox key).
func Open(path string) (*NS, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("inns: open network namespace %s: %w (is the container still running?)", path, err)
	}
	return &NS{h: h, path: path}, nil
}

// Path returns the path the namespace was opened from.
func (n *NS) Path() string { return n.path }

// Fd returns the namespace's file descriptor, valid until Close.
func (n *NS) Fd() int { return int(n.h) }

// Handle returns the namespace handle, valid until Close.
func (n *NS) Handle() netns.NsHandle { return n.h }

// Close releases the namespace.
func (n *NS) Close() error {
	if err := n.h.Close(); err != nil {
		return fmt.Errorf("inns: close %s: %w", n.path, err)
	}
	return nil
}

// Do calls fn on an OS thread switched into the namespace and returns its
// error. fn must not start goroutines that expect to be in the namespace.
// The thread is switched back afterwards; if that fails the thread is
// thrown away, so no other goroutine ever runs in the wrong namespace.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("inns: current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(n.h); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("inns: enter %s: %w", n.path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime ends it with this goroutine.
			errc <- fmt.Errorf("inns: leave %s: %w", n.path, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
