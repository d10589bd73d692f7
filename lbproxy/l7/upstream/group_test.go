package upstream

import (
	"sync"
	"testing"
	"time"
)

func TestBackup(t *testing.T) {
	for _, policy := range Policies {
		t.Run(string(policy), func(t *testing.T) {
			g, peers := newTestGroup(t, policy, []srv{
				{"a:1", 1, false}, {"b:1", 1, false}, {"x:1", 1, true}, {"y:1", 1, true},
			}, Server{FailTimeout: 10 * time.Second})
			key := KeyString("k")
			if policy == IPHash {
				key = KeyIP(clientIP(1))
			}
			check := func(now time.Time, allowed ...string) {
				t.Helper()
				for range 8 {
					a := pickRelease(g, now, key)
					ok := false
					for _, w := range allowed {
						ok = ok || a == w
					}
					if !ok {
						t.Fatalf("picked %q, want one of %v", a, allowed)
					}
				}
			}
			check(t0, "a:1", "b:1")
			peers["a:1"].Fail(t0)
			check(t0, "b:1")
			peers["b:1"].Fail(t0)
			check(t0, "x:1", "y:1")
			peers["x:1"].Fail(t0)
			peers["y:1"].Fail(t0)
			check(t0, "")
			// fail_timeout later the primaries are probed again first.
			later := at(10 * time.Second)
			i := g.Pick(later, key, nil)
			if i < 0 || g.Peer(i).Addr() == "x:1" || g.Peer(i).Addr() == "y:1" {
				t.Fatalf("after fail_timeout picked %d, want a primary probe", i)
			}
			g.Peer(i).Release()
			g.Peer(i).Success()
			check(later, "a:1", "b:1") // the other primary is due for its probe too
		})
	}
}

func TestNewGroupErrors(t *testing.T) {
	p := NewPeer(Server{Addr: "a:1"}, nil)
	tests := []struct {
		name   string
		policy Policy
		ms     []Member[int]
	}{
		{"unknown policy", "random", nil},
		{"nil peer", RoundRobin, []Member[int]{{}}},
		{"duplicate", RoundRobin, []Member[int]{{Peer: p}, {Peer: p}}},
		{"weight", RoundRobin, []Member[int]{{Peer: p, Weight: MaxWeight + 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewGroup(tc.policy, tc.ms); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestEmptyGroup(t *testing.T) {
	for _, policy := range Policies {
		g, err := NewGroup[int](policy, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i := g.Pick(t0, KeyString("x"), nil); i != -1 {
			t.Errorf("%s: empty group picked %d", policy, i)
		}
	}
}

func TestTriedLarge(t *testing.T) {
	var tr Tried
	for _, i := range []int{0, 63, 64, 200} {
		tr.Add(i)
	}
	for i := range 300 {
		want := i == 0 || i == 63 || i == 64 || i == 200
		if tr.Has(i) != want {
			t.Errorf("Has(%d) = %v", i, !want)
		}
	}
}

// TestConcurrentPicks hammers every policy from several goroutines (for
// -race) and checks the in-flight counts come back to zero.
func TestConcurrentPicks(t *testing.T) {
	for _, policy := range Policies {
		t.Run(string(policy), func(t *testing.T) {
			g, peers := newTestGroup(t, policy, append(servers(70), srv{"z:1", 1, true}), Server{MaxFails: 3})
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for k := range 500 {
						var tried Tried
						key := KeyString(string(rune('a' + k%26)))
						if policy == IPHash {
							key = KeyIP(clientIP(k))
						}
						i := g.Pick(at(time.Duration(k)*time.Millisecond), key, &tried)
						if i < 0 {
							continue
						}
						if (k+w)%7 == 0 {
							g.Peer(i).Fail(at(time.Duration(k) * time.Millisecond))
						} else {
							g.Peer(i).Success()
						}
						g.Peer(i).Release()
					}
				})
			}
			wg.Wait()
			for a, p := range peers {
				if p.Active() != 0 {
					t.Errorf("%s: %d still in flight", a, p.Active())
				}
			}
		})
	}
}
