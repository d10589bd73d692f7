package template

import (
	"fmt"
	"strings"
	"time"
)

// Wait is --wait MIN[:MAX]: a render waits until the state has been quiet
// for Min, but no longer than Max after the first change it has not
// rendered yet. Zero renders every change at once.
type Wait struct {
	Min, Max time.Duration
}

// ParseWait reads MIN[:MAX] ("100ms:1s"); without MAX it is 4*MIN.
func ParseWait(s string) (Wait, error) {
	bad := func(why string) (Wait, error) {
		return Wait{}, fmt.Errorf("invalid --wait %q: %s (want MIN[:MAX], e.g. 100ms:1s)", s, why)
	}
	minS, maxS, hasMax := strings.Cut(s, ":")
	lo, err := time.ParseDuration(minS)
	if err != nil || lo < 0 {
		return bad("MIN is not a duration from 0")
	}
	hi := 4 * lo
	if hasMax {
		if hi, err = time.ParseDuration(maxS); err != nil || hi < 0 {
			return bad("MAX is not a duration from 0")
		}
		if hi < lo {
			return bad("MAX is below MIN")
		}
	}
	return Wait{Min: lo, Max: hi}, nil
}

func (w Wait) String() string { return w.Min.String() + ":" + w.Max.String() }

// debouncer decides when changes are rendered (see Wait).
type debouncer struct {
	wait        Wait
	first, last time.Time
	pending     bool
}

// change records a change seen at now.
func (d *debouncer) change(now time.Time) {
	if !d.pending {
		d.first, d.pending = now, true
	}
	d.last = now
}

// due says when to render, if a change waits.
func (d *debouncer) due() (time.Time, bool) {
	if !d.pending {
		return time.Time{}, false
	}
	at := d.last.Add(d.wait.Min)
	if limit := d.first.Add(d.wait.Max); limit.Before(at) {
		at = limit
	}
	return at, true
}

// done records that the changes were rendered.
func (d *debouncer) done() { d.pending = false }
