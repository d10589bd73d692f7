// Package loadreport is the report `probe load` prints when it stops
// (one JSON line on stdout), shared by the probe that writes it and the
// tests, benchmarks and demo that read it.
package loadreport

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Switch is one change of version between consecutive answers.
type Switch struct {
	AtMS    int64  `json:"at_ms"`
	Version string `json:"version"`
}

// Report is the outcome of one load run. Times are milliseconds since
// the run started.
type Report struct {
	Sent      int64            `json:"sent"`
	OK        int64            `json:"ok"`
	Failed    int64            `json:"failed"`
	Errors    map[string]int64 `json:"errors"`   // short error text -> count
	Versions  map[string]int64 `json:"versions"` // the answers' "version" field -> count
	Switches  []Switch         `json:"switches"`
	First     map[string]int64 `json:"first"` // version -> its first answer
	Last      map[string]int64 `json:"last"`  // version -> its last answer
	P50MS     float64          `json:"p50_ms"`
	P99MS     float64          `json:"p99_ms"`
	MaxMS     float64          `json:"max_ms"`
	ElapsedS  float64          `json:"elapsed_s"`
	Rate      float64          `json:"rate"`
	Truncated bool             `json:"switches_truncated,omitempty"`
}

// Parse reads the report from the probe's standard output: its last
// line that is a JSON object.
func Parse(out string) (Report, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var r Report
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return Report{}, fmt.Errorf("probe load report %q: %w", l, err)
		}
		return r, nil
	}
	return Report{}, fmt.Errorf("no probe load report (a JSON line) in the output:\n%s", out)
}

// FirstAndLast are the versions of the first and the last answer.
func (r Report) FirstAndLast() (first, last string) {
	lo, hi := int64(-1), int64(-1)
	for v, at := range r.First {
		if lo < 0 || at < lo {
			lo, first = at, v
		}
	}
	for v, at := range r.Last {
		if at > hi {
			hi, last = at, v
		}
	}
	return first, last
}
