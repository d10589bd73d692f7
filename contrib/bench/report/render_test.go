package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/contrib/bench"
)

var update = flag.Bool("update", false, "rewrite testdata/REPORT.golden.md")

// TestRender renders the fixture results and compares with the golden
// report (go test ./contrib/bench/report -update rewrites it).
func TestRender(t *testing.T) {
	rs, err := bench.ReadAll("testdata/results")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	render(&b, rs)
	golden := filepath.Join("testdata", "REPORT.golden.md")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("report differs from %s (run with -update after checking):\n%s", golden, got)
	}

	// Deterministic: the same input gives the same bytes.
	var again bytes.Buffer
	render(&again, rs)
	if again.String() != b.String() {
		t.Error("two renderings differ")
	}

	got := b.String()
	for _, s := range []string{
		"make bench BENCH=run",
		"| [run](#run-docker-run--d-xoverlay-vs-bridge) | xoverlay / bridge, median | 1.08 | ≤ 1.2 | met |",
		"| bridge / none, p90 | 1.50 | ≤ 1.4 | **not met** |",
		"| xoverlay / none, median | 1.31 | (none) | — |",
		"| xoverlay | docker run -d, median | ms | 412 |  |  |  | 400, 412, 430 | 45 |",
		`NetworkDriver.Join \| plugin`,
		"| xoverlay agent | NetworkDriver.Join \\| plugin | ms |  | 0.312 | 1.60 | 0.410 |  | 45 |",
		"A note\nover two lines.\n\n",
		"2 CPUs (Test CPU), kernel 6.1.0, Docker 28.2.2, Go go1.26.0",
		"3 round(s), 2m10s in all",
		"| [aaa](#aaa) | (no target) | | | |",
		"| System | Metric | Unit | Median of rounds | Per round |\n|---|---|---|---:|---|\n| x | throughput | req/s | 12346 | 12000, 12346, 13000 |",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("report lacks %q", s)
		}
	}
	// Known scenarios (bench.Scenarios) come first, then the others by name.
	if i, j := strings.Index(got, "## run:"), strings.Index(got, "## aaa"); i < 0 || j < 0 || i > j {
		t.Errorf("section order: run at %d, aaa at %d", i, j)
	}
}

func TestRenderEmpty(t *testing.T) {
	var b bytes.Buffer
	render(&b, nil)
	if !strings.Contains(b.String(), "No results yet") {
		t.Errorf("empty report:\n%s", b.String())
	}
}
