// Package bench holds xoverlay's benchmarks: scenarios that run xoverlay
// side by side with a peer (and a limit: the same work with nothing in
// between) in one run on the same engine, and report medians of several
// rounds and the ratios between them. contrib/bench/README.md says how to
// run them and how to add one.
//
// This file and stats.go are plain Go, usable without build tags: the
// list of scenarios, the results file schema (results/<scenario>.json) and
// the statistics. The scenarios themselves are tests behind the "bench"
// build tag (bench_test.go and one <scenario>_test.go per scenario), run by
// contrib/bench/run.sh; contrib/bench/report turns the results files into
// REPORT.md.
package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Scenario describes one benchmark scenario.
type Scenario struct {
	// Name is the subtest name (TestBench/<Name>), the BENCH value and the
	// results file name (results/<Name>.json). Lower case, no spaces.
	Name string
	// Packages are the Debian packages (load generators, peers) that
	// run.sh installs with apt-get before running the scenario.
	Packages []string
}

// Scenarios lists the scenarios in the order in which they run and appear
// in REPORT.md. run.sh reads it (through `go run ./contrib/bench/report
// -list`), so a scenario added here is known to `make bench BENCH=...`.
var Scenarios = []Scenario{
	{Name: "run"},
	{Name: "cluster", Packages: []string{"iperf3"}},
	{Name: "dns", Packages: []string{"dnsperf", "dnsmasq-base"}},
	{Name: "control"},
	{Name: "services"},
	{Name: "lb4", Packages: []string{"iperf3"}},
	{Name: "l7", Packages: []string{"wrk", "nginx-light", "haproxy"}},
	{Name: "update", Packages: []string{"nginx-light"}},
}

// SchemaVersion is the version of the results file format.
const SchemaVersion = 1

// Result is the content of one results file, results/<scenario>.json.
type Result struct {
	// Schema is SchemaVersion.
	Schema int `json:"schema"`
	// Scenario is the scenario name (Scenario.Name).
	Scenario string `json:"scenario"`
	// Title is the section heading in REPORT.md.
	Title string `json:"title"`
	// Ran says, in Markdown, what ran: the systems, the load, the counts.
	Ran string `json:"ran"`
	// Date is when the run finished, RFC 3339 in UTC.
	Date string `json:"date"`
	// Revision is `git describe --always --dirty` of the tree measured.
	Revision string `json:"revision,omitempty"`
	// DurationSeconds is the wall time of the whole scenario (set-up included).
	DurationSeconds float64 `json:"duration_seconds"`
	// Machine describes where it ran.
	Machine Machine `json:"machine"`
	// Rounds is the number of measured rounds (warm-up not counted).
	Rounds int `json:"rounds"`
	// Rows are the figures, in display order.
	Rows []Row `json:"rows"`
	// Ratios compare xoverlay to its peer and to the limit.
	Ratios []Ratio `json:"ratios"`
	// Notes are extra remarks (Markdown), one paragraph each.
	Notes []string `json:"notes,omitempty"`
}

// Machine describes the machine a result was measured on.
type Machine struct {
	NProc  int    `json:"nproc"`
	CPU    string `json:"cpu,omitempty"`
	Kernel string `json:"kernel"`
	Docker string `json:"docker"`
	Go     string `json:"go,omitempty"`
}

// Row is one measured figure of one system. Unset (nil) fields are left
// out of the JSON and shown as blank cells.
type Row struct {
	// System is what was measured ("xoverlay", "bridge", ...).
	System string `json:"system"`
	// Metric names the figure ("docker run -d, median").
	Metric string `json:"metric"`
	// Unit of every value of the row ("ms", "req/s").
	Unit string `json:"unit"`
	// Median is the median of the per-round values (Rounds).
	Median *float64 `json:"median,omitempty"`
	// P50 and P99 are percentiles over all samples of all rounds, where
	// the figure is a distribution (latency histograms).
	P50 *float64 `json:"p50,omitempty"`
	P99 *float64 `json:"p99,omitempty"`
	// Mean is the mean over all samples, where it is exact and useful.
	Mean *float64 `json:"mean,omitempty"`
	// Rounds are the per-round values that Median is the median of.
	Rounds []float64 `json:"rounds,omitempty"`
	// Samples is the number of observations behind the row.
	Samples int `json:"samples,omitempty"`
}

// Ratio compares two figures: Value = numerator / denominator.
type Ratio struct {
	// Name says what is divided by what ("xoverlay / bridge, median").
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	// Op is "<=" or ">=" (Value Op Target is the goal), or empty for a
	// ratio reported without a target.
	Op     string  `json:"op,omitempty"`
	Target float64 `json:"target,omitempty"`
	// Met tells whether Value Op Target holds (false without a target).
	Met bool `json:"met"`
}

// NewRatio computes num/den and whether it meets op target (op "" for no
// target).
func NewRatio(name string, num, den float64, op string, target float64) Ratio {
	r := Ratio{Name: name, Value: num / den, Op: op, Target: target}
	switch op {
	case "<=":
		r.Met = r.Value <= target
	case ">=":
		r.Met = r.Value >= target
	case "":
	default:
		panic(fmt.Sprintf("bench.NewRatio: bad op %q", op))
	}
	return r
}

// F returns a pointer to v, for the optional Row fields.
func F(v float64) *float64 { return &v }

// Write stores r as dir/<scenario>.json (indented, trailing newline).
func Write(dir string, r *Result) error {
	if r.Scenario == "" || strings.ContainsAny(r.Scenario, `/\ `) {
		return fmt.Errorf("bench: bad scenario name %q", r.Scenario)
	}
	r.Schema = SchemaVersion
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, r.Scenario+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadAll reads every dir/*.json results file, ordered as Scenarios, then
// unknown scenarios by name.
func ReadAll(dir string) ([]Result, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var rs []Result
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r Result
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		if r.Schema != SchemaVersion {
			return nil, fmt.Errorf("%s: schema %d, want %d", p, r.Schema, SchemaVersion)
		}
		if want := strings.TrimSuffix(filepath.Base(p), ".json"); r.Scenario != want {
			return nil, fmt.Errorf("%s: scenario %q does not match the file name", p, r.Scenario)
		}
		rs = append(rs, r)
	}
	SortResults(rs)
	return rs, nil
}

// SortResults orders results as Scenarios, then unknown scenarios by name.
func SortResults(rs []Result) {
	pos := func(name string) int {
		for i, s := range Scenarios {
			if s.Name == name {
				return i
			}
		}
		return len(Scenarios)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		pi, pj := pos(rs[i].Scenario), pos(rs[j].Scenario)
		if pi != pj {
			return pi < pj
		}
		return rs[i].Scenario < rs[j].Scenario
	})
}
