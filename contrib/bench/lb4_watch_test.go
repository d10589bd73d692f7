//go:build bench

package bench

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
)

// lb4Watcher sees VIPs enter and leave the `vipaddrs` map of table
// `xo-lb` (see lbproxy/l4/nft) in one network namespace. It follows the
// kernel's nftables notifications (the monitor), so the time a change is
// seen is when its transaction was committed, and the watching costs
// nothing while nothing changes: polling the whole map instead (a dump
// of every element, every millisecond) would cost more with more
// services and slow the agents being measured.
type lb4Watcher struct {
	conn *nftables.Conn // dumps, on a lasting connection
	mon  *nftables.Monitor

	mu      sync.Mutex
	changed *sync.Cond
	added   map[netip.Addr]time.Time // last notification adding the address to a set
	removed map[netip.Addr]time.Time // last notification removing it
	err     error                    // the monitor ended
}

func lb4Watch(t *testing.T, pid string) *lb4Watcher {
	t.Helper()
	f, err := os.Open("/proc/" + pid + "/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	// The monitor needs a socket of its own: notifications must not mix
	// with the replies to dumps.
	monConn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		conn.CloseLasting()
		f.Close()
		t.Fatal(err)
	}
	// Every object: a generation's events are delivered at its NEWGEN
	// message, which an elements-only monitor would filter out.
	mon := nftables.NewMonitor(nftables.WithMonitorEventBuffer(4096))
	events, err := monConn.AddGenerationalMonitor(mon)
	if err != nil {
		conn.CloseLasting()
		f.Close()
		t.Fatalf("nftables monitor in the client's namespace: %v", err)
	}
	w := &lb4Watcher{conn: conn, mon: mon, added: map[netip.Addr]time.Time{}, removed: map[netip.Addr]time.Time{}}
	w.changed = sync.NewCond(&w.mu)
	done := make(chan struct{})
	go func() { // owned by the test: ends when Cleanup closes the monitor
		defer close(done)
		w.follow(events)
	}()
	t.Cleanup(func() {
		mon.Close()
		<-done
		conn.CloseLasting()
		f.Close()
	})
	return w
}

// follow records the time of every element notification, per address
// key, until the monitor ends. Keys of other lengths (ports, address and
// port pairs) are not VIP addresses and are left out.
func (w *lb4Watcher) follow(events chan *nftables.MonitorEvents) {
	for gen := range events {
		at := time.Now()
		w.mu.Lock()
		for _, ev := range gen.Changes {
			if ev.Error != nil {
				w.err = fmt.Errorf("nftables monitor: %w", ev.Error)
				continue
			}
			elems, ok := ev.Data.([]nftables.SetElement)
			if !ok {
				continue
			}
			for _, e := range elems {
				a, ok := netip.AddrFromSlice(e.Key)
				if !ok || len(e.Key) != 4 {
					continue
				}
				switch ev.Type {
				case nftables.MonitorEventTypeNewSetElem:
					w.added[a] = at
				case nftables.MonitorEventTypeDelSetElem:
					w.removed[a] = at
				}
			}
		}
		w.changed.Broadcast()
		w.mu.Unlock()
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = fmt.Errorf("nftables monitor ended")
	}
	w.changed.Broadcast()
	w.mu.Unlock()
}

// vips returns the addresses of the address-only VIP map (table xo-lb,
// map vipaddrs: see lbproxy/l4/nft).
func (w *lb4Watcher) vips() (map[netip.Addr]bool, error) {
	table := &nftables.Table{Name: "xo-lb", Family: nftables.TableFamilyIPv4}
	set, err := w.conn.GetSetByName(table, "vipaddrs")
	if err != nil {
		return nil, fmt.Errorf("map vipaddrs in the client's namespace: %w", err)
	}
	elems, err := w.conn.GetSetElements(set)
	if err != nil {
		return nil, err
	}
	out := make(map[netip.Addr]bool, len(elems))
	for _, e := range elems {
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			out[a] = true
		}
	}
	return out, nil
}

// until waits for the first notification after start that adds vip to
// (present) or removes it from a set of the namespace, then confirms
// with one dump that the VIP map holds it (or not), and returns the time
// from start to the notification.
func (w *lb4Watcher) until(t *testing.T, vip netip.Addr, present bool, start time.Time) time.Duration {
	t.Helper()
	deadline := start.Add(30 * time.Second)
	timer := time.AfterFunc(time.Until(deadline), func() {
		w.mu.Lock()
		w.changed.Broadcast()
		w.mu.Unlock()
	})
	defer timer.Stop()
	after := start // notifications before this are of an earlier change
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		seen := w.removed
		if present {
			seen = w.added
		}
		if at, ok := seen[vip]; ok && !at.Before(after) {
			w.mu.Unlock()
			got, err := w.vips()
			w.mu.Lock()
			if err == nil && got[vip] == present {
				return at.Sub(start)
			}
			// Another set changed, or the map changed again: wait on.
			after = at.Add(time.Nanosecond)
		}
		if w.err != nil {
			t.Fatalf("waiting for VIP %s present=%v: %v", vip, present, w.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("VIP %s present=%v not seen within 30s", vip, present)
		}
		w.changed.Wait()
	}
}
