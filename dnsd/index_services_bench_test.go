package dnsd

import (
	"fmt"
	"net/netip"
	"testing"
)

// servicesSnapshot has n services with a VIP each on one network and no
// tasks: the load balancer rule-update benchmark's cluster.
func servicesSnapshot(n int) Snapshot {
	snap := Snapshot{Networks: []Network{{ID: "n", Name: "lb", Subnet: netip.MustParsePrefix("10.60.0.0/16")}}}
	for i := range n {
		snap.Services = append(snap.Services, Service{Name: fmt.Sprintf("svc-%04d", i), Mode: ModeVIP,
			VIPs: map[string]netip.Addr{"n": netip.AddrFrom4([4]byte{10, 60, byte(i >> 8), byte(i)})}})
	}
	return snap
}

// BenchmarkServiceChange is the cost of one service's VIP changing, at
// 100 and 1,000 services: through UpdateServices (incremental) and
// through Update with the whole snapshot (full), as the agent did.
func BenchmarkServiceChange(b *testing.B) {
	for _, n := range []int{100, 1000} {
		snap := servicesSnapshot(n)
		k := n / 2
		vips := [2]netip.Addr{netip.MustParseAddr("10.60.200.1"), snap.Services[k].VIPs["n"]}
		change := func(i int) Service {
			s := snap.Services[k]
			s.VIPs = map[string]netip.Addr{"n": vips[i%2]}
			return s
		}
		b.Run(fmt.Sprintf("services=%d/incremental", n), func(b *testing.B) {
			s := newTestServer(b, testConfig(), snap)
			changed := []Service{change(0), change(1)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if !s.UpdateServices(changed[i%2:i%2+1], nil) {
					b.Fatal("refused")
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("services=%d/full", n), func(b *testing.B) {
			s := newTestServer(b, testConfig(), snap)
			snaps := [2]Snapshot{snap, snap}
			for i := range snaps {
				snaps[i].Services = append([]Service(nil), snap.Services...)
				snaps[i].Services[k] = change(i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Update(snaps[i%2])
				i++
			}
		})
	}
}
