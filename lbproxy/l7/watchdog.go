package l7

import (
	"net/http"
	"sync/atomic"
	"time"
)

// watchdog enforces the proxy's timeouts without a timer per request:
// requests and connections store a deadline (one atomic write) and the
// watchdog, ticking a few times per shortest timeout, ends what is late:
// idle or slow client connections, and backend connections that do not
// answer. It also keeps a coarse clock and the Date header. Its
// goroutine belongs to the Server and ends in Shutdown or Close.
type watchdog struct {
	tick time.Duration
	now  atomic.Int64 // unix nanos, refreshed every tick
	date atomic.Pointer[string]

	stop chan struct{}
	done chan struct{}
}

func newWatchdog(opts *Options) *watchdog {
	tick := min(opts.ReadHeaderTimeout, opts.IdleTimeout, opts.ClientTimeout, opts.BackendTimeout) / 4
	tick = min(max(tick, 5*time.Millisecond), time.Second)
	wd := &watchdog{tick: tick, stop: make(chan struct{}), done: make(chan struct{})}
	wd.refresh(time.Now())
	return wd
}

func (wd *watchdog) run(sweep func(now int64)) {
	defer close(wd.done)
	t := time.NewTicker(wd.tick)
	defer t.Stop()
	for {
		select {
		case <-wd.stop:
			return
		case now := <-t.C:
			wd.refresh(now)
			sweep(now.UnixNano())
		}
	}
}

// halt stops the goroutine and waits for it.
func (wd *watchdog) halt() {
	select {
	case <-wd.stop:
	default:
		close(wd.stop)
	}
	<-wd.done
}

func (wd *watchdog) refresh(now time.Time) {
	prev := wd.now.Swap(now.UnixNano())
	if prev/int64(time.Second) != now.UnixNano()/int64(time.Second) || wd.date.Load() == nil {
		d := "Date: " + now.UTC().Format(http.TimeFormat) + "\r\n"
		wd.date.Store(&d)
	}
}

// deadline is the coarse time d from now, in unix nanos.
func (wd *watchdog) deadline(d time.Duration) int64 { return wd.now.Load() + int64(d) }
