package orchestrate

import (
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// maxNoted bounds the events noted together (one read of the store).
const maxNoted = 1024

// watch is the Watch of the pass loop (engine.RunLoop). The loop calls
// its match function only for the first event of a burst (the others
// fall in the debounce), so the changes cannot be collected there: a
// goroutine of this watch reads every event of the cluster's, notes it
// (see note), and hands the loop one event when a pass is wanted.
//
// The loop's next pass takes whatever was noted before that event was
// received: an event is noted before the loop can see it, and a pass
// already pending when it arrives starts later. The handed channel holds
// one event: a second is not needed while the first waits.
//
// A watch that starts, ends (its channel closed) or may have dropped
// events (its buffer was full) makes the next pass a full one.
//
// The loop calls watch on its own goroutine, the pass's.
func (o *Orchestrator) watch() (<-chan state.Event, func()) {
	src, cancel := o.cluster.Watch()
	// The commits before this watch are unknown.
	o.dirty.markFull()
	if o.mem.nextTick.IsZero() {
		// The loop's first watch: its ticker starts now (see periodic).
		o.mem.nextTick = time.Now().Add(o.opts.Period)
	}
	out := make(chan state.Event, 1)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer close(out) // the loop watches anew, then runs a pass
		o.forward(src, out, stop)
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(stop)
			<-done
			cancel()
		})
	}
}

// forward notes the events of src, the queued ones together, and hands
// out one when they ask for a pass; until stop is closed, or src is.
func (o *Orchestrator) forward(src <-chan state.Event, out chan<- state.Event, stop <-chan struct{}) {
	batch := make([]state.Event, 0, maxNoted)
	for {
		var e state.Event
		ok := false
		select {
		case <-stop:
			return
		case e, ok = <-src:
		}
		if !ok {
			o.dirty.markFull()
			return
		}
		batch = append(batch[:0], e)
		lost := overflowed(src)
	more:
		for len(batch) < maxNoted {
			select {
			case e, ok := <-src:
				if !ok {
					break more // the next receive finds it closed
				}
				batch = append(batch, e)
				lost = lost || overflowed(src)
			default:
				break more
			}
		}
		if o.note(batch, lost) {
			select {
			case out <- batch[0]:
			default: // one is waiting: its pass takes these changes too
			}
		}
	}
}

// overflowed says whether the watch channel may have dropped events: the
// store drops what a full buffer cannot take, so after a drop the next
// receive leaves it with at most one free place. An unbuffered channel
// tells nothing and is taken as lossy.
func overflowed(ch <-chan state.Event) bool {
	return cap(ch) == 0 || len(ch) >= cap(ch)-1
}
