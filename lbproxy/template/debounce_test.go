package template

import (
	"strings"
	"testing"
	"time"
)

func TestParseWait(t *testing.T) {
	for in, want := range map[string]Wait{
		"100ms:1s": {100 * time.Millisecond, time.Second},
		"250ms":    {250 * time.Millisecond, time.Second},
		"0":        {},
		"0s:2s":    {0, 2 * time.Second},
	} {
		if got, err := ParseWait(in); err != nil || got != want {
			t.Errorf("ParseWait(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"soon":     "MIN is not a duration",
		"1s:later": "MAX is not a duration",
		"2s:1s":    "MAX is below MIN",
		"-1s":      "MIN is not a duration from 0",
	} {
		if _, err := ParseWait(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseWait(%q): %v, want %q", in, err, why)
		}
	}
}

func TestDebouncer(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	d := debouncer{wait: Wait{Min: 100 * time.Millisecond, Max: time.Second}}
	if _, ok := d.due(); ok {
		t.Fatal("due with nothing changed")
	}
	d.change(at(0))
	if due, _ := d.due(); !due.Equal(at(100)) {
		t.Fatalf("one change: due %v", due.Sub(t0))
	}
	// Changes every 50 ms push the render back, up to Max after the first.
	for ms := 50; ms <= 1500; ms += 50 {
		d.change(at(ms))
	}
	if due, _ := d.due(); !due.Equal(at(1000)) {
		t.Fatalf("a storm of changes: due %v, want 1s (Max)", due.Sub(t0))
	}
	d.done()
	if _, ok := d.due(); ok {
		t.Fatal("due after done")
	}
	d.change(at(2000))
	if due, _ := d.due(); !due.Equal(at(2100)) {
		t.Fatalf("after done, Max counts from the next change: due %v", due.Sub(t0))
	}
	zero := debouncer{}
	zero.change(at(5))
	if due, _ := zero.due(); !due.Equal(at(5)) {
		t.Fatalf("no wait: due %v", due.Sub(t0))
	}
}
