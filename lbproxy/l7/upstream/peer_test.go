package upstream

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestPeerPassiveHealth(t *testing.T) {
	type step struct {
		at time.Duration
		op string // fail, ok, avail, unavail, probe (pick+release), up, down
	}
	tests := []struct {
		name  string
		cfg   Server
		steps []step
	}{
		{"default: one failure takes it down for 10s", Server{}, []step{
			{0, "avail"}, {0, "fail"}, {0, "unavail"}, {0, "down"},
			{9 * time.Second, "unavail"}, {10 * time.Second, "avail"},
		}},
		{"max_fails 3 within the window", Server{MaxFails: 3, FailTimeout: 30 * time.Second}, []step{
			{0, "fail"}, {time.Second, "fail"}, {2 * time.Second, "avail"}, {2 * time.Second, "up"},
			{29 * time.Second, "fail"}, {29 * time.Second, "unavail"}, {29 * time.Second, "down"},
			{58 * time.Second, "unavail"}, {59 * time.Second, "avail"},
		}},
		{"failures outside the window do not add up", Server{MaxFails: 2, FailTimeout: 10 * time.Second}, []step{
			{0, "fail"}, {10 * time.Second, "fail"}, {10 * time.Second, "avail"},
			{20 * time.Second, "fail"}, {25 * time.Second, "fail"}, {25 * time.Second, "unavail"},
		}},
		{"successes do not reset the window", Server{MaxFails: 2, FailTimeout: 10 * time.Second}, []step{
			{0, "fail"}, {time.Second, "ok"}, {2 * time.Second, "fail"}, {2 * time.Second, "unavail"},
		}},
		{"a failed probe keeps it down another fail_timeout", Server{MaxFails: 2, FailTimeout: 5 * time.Second}, []step{
			{0, "fail"}, {0, "fail"}, {5 * time.Second, "avail"}, {5 * time.Second, "probe"},
			{5 * time.Second, "unavail"}, // the probe is out: nobody else
			{6 * time.Second, "fail"}, {6 * time.Second, "down"}, {10 * time.Second, "unavail"},
			{11 * time.Second, "avail"},
		}},
		{"a good probe brings it back", Server{FailTimeout: 5 * time.Second}, []step{
			{0, "fail"}, {5 * time.Second, "probe"}, {5 * time.Second, "ok"}, {5 * time.Second, "up"},
			{5 * time.Second, "avail"}, {6 * time.Second, "fail"}, {6 * time.Second, "unavail"},
		}},
		{"max_fails disabled", Server{MaxFails: NoMaxFails}, []step{
			{0, "fail"}, {0, "fail"}, {0, "fail"}, {0, "avail"}, {0, "up"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Addr = "10.0.0.1:80"
			var health []bool
			p := NewPeer(cfg, func(up bool) { health = append(health, up) })
			for k, s := range tc.steps {
				now := at(s.at)
				switch s.op {
				case "fail":
					p.Fail(now)
				case "ok":
					p.Success()
				case "avail", "unavail":
					if got := p.available(nanos(now)); got != (s.op == "avail") {
						t.Fatalf("step %d at %v: available %v, want %v", k, s.at, got, !got)
					}
				case "probe":
					if !p.claim(nanos(now)) {
						t.Fatalf("step %d at %v: probe not claimed", k, s.at)
					}
					p.Release()
				case "up", "down":
					if got := p.Up(); got != (s.op == "up") {
						t.Fatalf("step %d at %v: Up %v, want %v", k, s.at, got, !got)
					}
				default:
					t.Fatalf("bad op %q", s.op)
				}
			}
			for k := 1; k < len(health); k++ {
				if health[k] == health[k-1] {
					t.Errorf("health callbacks %v: a transition reported twice", health)
				}
			}
		})
	}
}

func TestPeerHealthCallbacks(t *testing.T) {
	var health []bool
	p := NewPeer(Server{Addr: "a:1", FailTimeout: time.Second}, func(up bool) { health = append(health, up) })
	p.Fail(at(0))
	p.Fail(at(0)) // already down: no second report
	p.Success()
	p.Success()
	if want := []bool{false, true}; !slices.Equal(health, want) {
		t.Errorf("callbacks %v, want %v", health, want)
	}
	p.Fail(at(time.Minute))
	p.Configure(Server{Addr: "a:1", MaxFails: NoMaxFails})
	if !p.Up() || !p.available(nanos(at(time.Minute))) {
		t.Errorf("disabling max_fails left the server down")
	}
}

func TestPeerDrain(t *testing.T) {
	tests := []struct {
		name string
		run  func(p *Peer) []bool // the drained results, in order
		want []bool
	}{
		{"idle server drains at once", func(p *Peer) []bool {
			return []bool{p.Drain(), p.Drain()}
		}, []bool{true, false}},
		{"last release finishes the drain", func(p *Peer) []bool {
			p.claim(0)
			p.claim(0)
			return []bool{p.Drain(), p.Release(), p.Release()}
		}, []bool{false, false, true}},
		{"no claim while draining", func(p *Peer) []bool {
			p.claim(0)
			d := p.Drain()
			return []bool{d, p.claim(0), p.Release()}
		}, []bool{false, false, true}},
		{"undrain before the end", func(p *Peer) []bool {
			p.claim(0)
			d := p.Drain()
			u := p.Undrain()
			return []bool{d, u, p.Release(), p.claim(0)}
		}, []bool{false, true, false, true}},
		{"undrain after the end fails", func(p *Peer) []bool {
			return []bool{p.Drain(), p.Undrain(), p.claim(0)}
		}, []bool{true, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPeer(Server{Addr: "a:1"}, nil)
			if got := tc.run(p); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPeerDrainRace releases and drains concurrently: the clean-up must
// be owned exactly once.
func TestPeerDrainRace(t *testing.T) {
	for range 200 {
		p := NewPeer(Server{Addr: "a:1"}, nil)
		const n = 8
		for range n {
			p.claim(0)
		}
		var mu sync.Mutex
		owners := 0
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if p.Release() {
					mu.Lock()
					owners++
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			if p.Drain() {
				mu.Lock()
				owners++
				mu.Unlock()
			}
		})
		wg.Wait()
		if owners != 1 {
			t.Fatalf("clean-up owned %d times, want 1", owners)
		}
	}
}

func TestPeerMaxConns(t *testing.T) {
	p := NewPeer(Server{Addr: "a:1", MaxConns: 2}, nil)
	got := []bool{p.claim(0), p.claim(0), p.claim(0), p.available(0)}
	p.Release()
	got = append(got, p.available(0), p.claim(0))
	if want := []bool{true, true, false, false, true, true}; !slices.Equal(got, want) {
		t.Errorf("claims %v, want %v", got, want)
	}
	if p.Active() != 2 {
		t.Errorf("Active %d, want 2", p.Active())
	}
}
