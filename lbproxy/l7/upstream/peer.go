package upstream

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Bits of Peer.state above the in-flight count.
const (
	drainBit   = uint64(1) << 62 // removed from the configuration: no new requests
	deadBit    = uint64(1) << 61 // drained and finished: never used again
	activeMask = deadBit - 1
)

// up is Peer.downUntil of a server that is not down.
const up = math.MinInt64

// epoch is the origin of the nanosecond clock the peers keep: a
// time.Time from time.Now carries a monotonic reading, so wall-clock
// steps do not move fail windows.
var epoch = time.Now()

func nanos(t time.Time) int64 { return int64(t.Sub(epoch)) }

// Peer is the state of one backend server shared by every configuration
// that has it. All methods are safe for concurrent use.
type Peer struct {
	addr string

	// state is the number of requests in flight plus drainBit and
	// deadBit, in one word so that draining and claiming never race.
	state    atomic.Uint64
	maxConns atomic.Int64

	// downUntil is when a down server may be probed again (nanos), or
	// up. A probe moves it one fail_timeout ahead, so only one request
	// probes at a time, as nginx does.
	downUntil   atomic.Int64
	failTimeout atomic.Int64

	mu          sync.Mutex
	maxFails    int
	fails       int   // failures in the current window
	windowStart int64 // nanos of the window's first failure
	down        bool
	onHealth    func(up bool)
}

// NewPeer makes the state of the server at addr, configured from s.
// onHealth (may be nil) is called, with the Peer's lock held, each time
// the server goes down or comes back; it must be quick and must not call
// the Peer.
func NewPeer(s Server, onHealth func(up bool)) *Peer {
	p := &Peer{addr: s.Addr, onHealth: onHealth}
	p.downUntil.Store(up)
	p.Configure(s)
	return p
}

// Addr is the server's address.
func (p *Peer) Addr() string { return p.addr }

// Configure applies s's MaxFails, FailTimeout and MaxConns (defaults
// filled in) to a live peer; its health and in-flight count are kept.
func (p *Peer) Configure(s Server) {
	s = s.WithDefaults()
	p.maxConns.Store(int64(s.MaxConns))
	p.failTimeout.Store(int64(s.FailTimeout))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maxFails = s.MaxFails
	if s.MaxFails < 0 && p.down {
		p.setUpLocked()
	}
}

// Active is the number of requests in flight to the server.
func (p *Peer) Active() int { return int(p.state.Load() & activeMask) }

// Up reports the server's passive health: false from the failure that
// took it down until a request to it succeeds again.
func (p *Peer) Up() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.down
}

// Draining reports whether Drain was called (and not undone).
func (p *Peer) Draining() bool { return p.state.Load()&drainBit != 0 }

// available reports whether a request may go to the server at now
// (nanos): not down (or due for a probe), not draining, under its cap.
func (p *Peer) available(now int64) bool {
	if d := p.downUntil.Load(); d != up && now < d {
		return false
	}
	v := p.state.Load()
	if v&(drainBit|deadBit) != 0 {
		return false
	}
	mc := p.maxConns.Load()
	return mc <= 0 || int64(v&activeMask) < mc
}

// claim takes one in-flight slot for a request at now (nanos) and, for a
// server due for a probe, the probe. It fails if the server stopped
// being available since available was asked.
func (p *Peer) claim(now int64) bool {
	d := p.downUntil.Load()
	probe := d != up
	if probe {
		if now < d || !p.downUntil.CompareAndSwap(d, now+p.failTimeout.Load()) {
			return false
		}
	}
	for {
		v := p.state.Load()
		mc := p.maxConns.Load()
		if v&(drainBit|deadBit) != 0 || mc > 0 && int64(v&activeMask) >= mc {
			if probe {
				p.downUntil.CompareAndSwap(now+p.failTimeout.Load(), d)
			}
			return false
		}
		if p.state.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// Release gives back the slot a Group.Pick took. It reports whether
// this was the last request of a draining server: the caller then owns
// the server's clean-up (closing its connections), exactly once.
func (p *Peer) Release() (drained bool) {
	v := p.state.Add(^uint64(0))
	if v == drainBit {
		return p.state.CompareAndSwap(drainBit, drainBit|deadBit)
	}
	return false
}

// Drain stops new requests to the server; requests in flight go on. It
// reports whether none was in flight: the caller then owns the clean-up,
// as after Release. Draining twice is a no-op that reports false.
func (p *Peer) Drain() (drained bool) {
	old := p.state.Or(drainBit)
	if old&drainBit != 0 {
		return false
	}
	if old == 0 {
		return p.state.CompareAndSwap(drainBit, drainBit|deadBit)
	}
	return false
}

// Undrain takes back a Drain for a server that is in the configuration
// again. It fails once the drain finished (the caller must then make a
// new Peer).
func (p *Peer) Undrain() bool {
	for {
		v := p.state.Load()
		if v&deadBit != 0 {
			return false
		}
		if v&drainBit == 0 || p.state.CompareAndSwap(v, v&^drainBit) {
			return true
		}
	}
}

// Fail records a failed attempt at now: a connection error, a timeout,
// or an answer that counts as a failure. MaxFails of them within
// FailTimeout take the server down for FailTimeout; a failed probe of a
// down server keeps it down for another FailTimeout.
func (p *Peer) Fail(now time.Time) {
	n := nanos(now)
	ft := p.failTimeout.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.maxFails < 0 {
		return
	}
	if p.down {
		p.downUntil.Store(n + ft)
		return
	}
	if p.fails == 0 || n-p.windowStart >= ft {
		p.windowStart, p.fails = n, 0
	}
	p.fails++
	if p.fails >= p.maxFails {
		p.down, p.fails = true, 0
		p.downUntil.Store(n + ft)
		if p.onHealth != nil {
			p.onHealth(false)
		}
	}
}

// Success records a good answer: a down server is up again. Failures
// counted in the current window stay counted (max_fails counts failures
// within fail_timeout, successes in between or not).
func (p *Peer) Success() {
	if p.downUntil.Load() == up {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		p.setUpLocked()
	}
}

func (p *Peer) setUpLocked() {
	p.down, p.fails = false, 0
	p.downUntil.Store(up)
	if p.onHealth != nil {
		p.onHealth(true)
	}
}
