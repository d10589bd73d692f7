package bench

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPercentile(t *testing.T) {
	for _, c := range []struct {
		vs   []float64
		q    float64
		want float64
	}{
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{5}, 0.9, 5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.9, 10},
		{[]float64{10, 20}, 0.9, 19},
		{[]float64{1, 2, 3}, 0, 1},
		{[]float64{1, 2, 3}, 1, 3},
	} {
		if got := Percentile(c.vs, c.q); !near(got, c.want) {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.vs, c.q, got, c.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	vs := []float64{3, 1, 2}
	Median(vs)
	if vs[0] != 3 {
		t.Error("Median sorted its argument")
	}
}

const metricsText = `# HELP xo_plugin_call_duration_seconds Latency of Docker plugin calls by method.
# TYPE xo_plugin_call_duration_seconds histogram
xo_plugin_call_duration_seconds_bucket{method="A",le="0.001"} 0
xo_plugin_call_duration_seconds_bucket{method="A",le="0.002"} 10
xo_plugin_call_duration_seconds_bucket{method="A",le="0.004"} 30
xo_plugin_call_duration_seconds_bucket{method="A",le="+Inf"} 40
xo_plugin_call_duration_seconds_sum{method="A"} 0.1
xo_plugin_call_duration_seconds_count{method="A"} 40
xo_plugin_call_duration_seconds_bucket{le="0.002",method="B \"quoted\""} 1
xo_plugin_call_duration_seconds_bucket{le="+Inf",method="B \"quoted\""} 1
xo_plugin_call_duration_seconds_bucket{le="0.001",method="B \"quoted\""} 1
xo_plugin_call_duration_seconds_sum{method="B \"quoted\""} 0.0005
xo_plugin_call_duration_seconds_count{method="B \"quoted\""} 1
xo_plugin_call_errors_total{method="A"} 3
xo_other_seconds_bucket{le="+Inf"} 7
`

func TestParseHistogramsAndQuantile(t *testing.T) {
	hs, err := ParseHistograms(metricsText, "xo_plugin_call_duration_seconds", "method")
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 {
		t.Fatalf("got %d histograms: %v", len(hs), hs)
	}
	a := hs["A"]
	if a.Count != 40 || a.Sum != 0.1 || len(a.Buckets) != 4 || !math.IsInf(a.Buckets[3].Le, 1) {
		t.Fatalf("A = %+v", a)
	}
	b := hs[`B "quoted"`]
	if b.Count != 1 || b.Buckets[0].Le != 0.001 {
		t.Fatalf("B = %+v (buckets must be sorted)", b)
	}
	for _, c := range []struct {
		q, want float64
	}{
		{0.5, 0.003},     // rank 20: 10 below, 20 in (0.002, 0.004]
		{0.25, 0.002},    // rank 10: top of the second bucket
		{0.125, 0.0015},  // rank 5: half of (0.001, 0.002]
		{0.99, 0.004},    // rank 39.6 in +Inf: highest finite bound
		{0.75, 0.004},    // rank 30
		{0.0, 0.001},     // rank 0: the first bucket holding it (empty one) -> its end
		{0.6, 0.0034000}, // rank 24: 0.002 + 0.002*14/20
	} {
		if got := a.Quantile(c.q); !near(got, c.want) {
			t.Errorf("A.Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := b.Quantile(0.5); !near(got, 0.0005) {
		t.Errorf("B.Quantile(0.5) = %v, want 0.0005 (interpolated from 0)", got)
	}
	if !near(a.Mean(), 0.0025) {
		t.Errorf("A.Mean() = %v", a.Mean())
	}
	if !math.IsNaN((Histogram{}).Quantile(0.5)) || !math.IsNaN((Histogram{}).Mean()) {
		t.Error("empty histogram gives a number")
	}

	// A later scrape minus an earlier one holds only the new observations.
	later := strings.NewReplacer(`le="0.004"} 30`, `le="0.004"} 50`, `le="+Inf"} 40`, `le="+Inf"} 60`,
		`_sum{method="A"} 0.1`, `_sum{method="A"} 0.16`, `_count{method="A"} 40`, `_count{method="A"} 60`).Replace(metricsText)
	hs2, err := ParseHistograms(later, "xo_plugin_call_duration_seconds", "method")
	if err != nil {
		t.Fatal(err)
	}
	d, err := hs2["A"].Sub(a)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count != 20 || !near(d.Sum, 0.06) || d.Buckets[1].Count != 0 || d.Buckets[2].Count != 20 {
		t.Fatalf("delta = %+v", d)
	}
	if got := d.Quantile(0.5); !near(got, 0.003) {
		t.Errorf("delta.Quantile(0.5) = %v", got)
	}
	sum, err := (Histogram{}).Add(d)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err = sum.Add(d); err != nil || sum.Count != 40 || sum.Buckets[2].Count != 40 {
		t.Fatalf("sum = %+v, %v", sum, err)
	}
	if _, err := a.Sub(Histogram{Buckets: []Bucket{{math.Inf(1), 1}}}); err == nil {
		t.Error("Sub accepted different buckets")
	}
	if _, err := ParseHistograms(`xo_plugin_call_duration_seconds_bucket{method="A",le="1"} 1`, "xo_plugin_call_duration_seconds", "method"); err == nil {
		t.Error("a histogram without +Inf bucket was accepted")
	}
}

func TestNewRatio(t *testing.T) {
	if r := NewRatio("x", 12, 10, "<=", 1.2); !near(r.Value, 1.2) || !r.Met {
		t.Errorf("%+v", r)
	}
	if r := NewRatio("x", 13, 10, "<=", 1.2); r.Met {
		t.Errorf("%+v", r)
	}
	if r := NewRatio("x", 9, 10, ">=", 0.95); r.Met {
		t.Errorf("%+v", r)
	}
	if r := NewRatio("x", 9, 10, "", 0); r.Met || r.Op != "" {
		t.Errorf("%+v", r)
	}
}

func TestWriteReadAll(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"zzz", "run", "aaa"} {
		if err := Write(dir, &Result{Scenario: name, Title: name}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Scenario)
	}
	if strings.Join(got, " ") != "run aaa zzz" {
		t.Errorf("order %v, want known scenarios first, then by name", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"schema":1,"scenario":"other"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAll(dir); err == nil {
		t.Error("a scenario not matching its file name was accepted")
	}
	if err := Write(dir, &Result{Scenario: "a/b"}); err == nil {
		t.Error("bad scenario name accepted")
	}
}
