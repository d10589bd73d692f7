package main

import (
	"github.com/xoverlay/xoverlay/contrib/probe/loadreport"

	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxSwitches bounds the switches a load run remembers: answers
// alternating between two versions for a long time (both serve during a
// start-first update) must not grow the report without end.
const maxSwitches = 10000

// outcome is what became of one request of a load run.
type outcome struct {
	at      time.Duration // since the start of the run, when it ended
	latency time.Duration // from its start to its end; 0 when it never started
	version string        // the answer's version, for a 200 answer
	err     string        // short error text; empty when the request succeeded
}

// switchAt and loadReport are the report's types (package loadreport).
type (
	switchAt   = loadreport.Switch
	loadReport = loadreport.Report
)

// tally collects the outcomes of a load run; it is safe for concurrent use.
type tally struct {
	mu       sync.Mutex
	sent     int64
	ok       int64
	failed   int64
	errors   map[string]int64
	versions map[string]int64
	switches []switchAt
	trunc    bool
	current  string // version of the latest answer
	first    map[string]int64
	last     map[string]int64
	lat      latencies
}

func newTally() *tally {
	return &tally{errors: map[string]int64{}, versions: map[string]int64{},
		first: map[string]int64{}, last: map[string]int64{}}
}

// add records one request's outcome. Outcomes are ordered by the order
// of the calls: "consecutive answers" are consecutive calls.
func (t *tally) add(o outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent++
	if o.latency > 0 {
		t.lat.add(o.latency)
	}
	if o.err != "" {
		t.failed++
		t.errors[o.err]++
		return
	}
	t.ok++
	v, ms := o.version, o.at.Milliseconds()
	t.versions[v]++
	if _, seen := t.first[v]; !seen {
		t.first[v] = ms
	}
	t.last[v] = ms
	if v != t.current {
		if t.ok > 1 { // the first answer sets the version; it is no switch
			if len(t.switches) < maxSwitches {
				t.switches = append(t.switches, switchAt{AtMS: ms, Version: v})
			} else {
				t.trunc = true
			}
		}
		t.current = v
	}
}

// progress is the one-line summary printed every second.
func (t *tally) progress(elapsed time.Duration) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	vs := make([]string, 0, len(t.versions))
	for _, v := range slices.Sorted(maps.Keys(t.versions)) {
		vs = append(vs, fmt.Sprintf("%s:%d", v, t.versions[v]))
	}
	return fmt.Sprintf("t=%ds sent=%d ok=%d failed=%d versions=%s",
		int64(elapsed.Round(time.Second)/time.Second), t.sent, t.ok, t.failed, strings.Join(vs, ","))
}

// report is the final summary; elapsed is how long the run sent requests.
func (t *tally) report(elapsed time.Duration) loadReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := loadReport{
		Sent: t.sent, OK: t.ok, Failed: t.failed,
		Errors: maps.Clone(t.errors), Versions: maps.Clone(t.versions),
		Switches: slices.Clone(t.switches), Truncated: t.trunc,
		First: maps.Clone(t.first), Last: maps.Clone(t.last),
		P50MS: t.lat.quantile(0.50), P99MS: t.lat.quantile(0.99), MaxMS: ms(t.lat.max),
		ElapsedS: round3(elapsed.Seconds()),
	}
	if r.Switches == nil {
		r.Switches = []switchAt{}
	}
	if elapsed > 0 {
		r.Rate = round3(float64(t.sent) / elapsed.Seconds())
	}
	return r
}

// latencies is a histogram with buckets 1% apart (from 1 µs to beyond
// 100 s): quantiles within 1% whatever the run's length, in bounded memory.
type latencies struct {
	counts []int64
	n      int64
	max    time.Duration
}

const latGrowth = 1.01

func latBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return int(math.Ceil(math.Log(us) / math.Log(latGrowth)))
}

func (l *latencies) add(d time.Duration) {
	i := latBucket(d)
	if i >= len(l.counts) {
		l.counts = append(l.counts, make([]int64, i+1-len(l.counts))...)
	}
	l.counts[i]++
	l.n++
	l.max = max(l.max, d)
}

// quantile returns the q-quantile in milliseconds (the upper bound of its
// bucket, never above the maximum), 0 without samples.
func (l *latencies) quantile(q float64) float64 {
	if l.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(l.n)))
	rank = max(rank, 1)
	var seen int64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			upper := time.Duration(math.Pow(latGrowth, float64(i)) * float64(time.Microsecond))
			return ms(min(upper, l.max))
		}
	}
	return ms(l.max)
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
