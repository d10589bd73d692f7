package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run builds a report of answers given as versions in order, one every
// 10 ms ("" is a failed request, "connection refused").
func run(answers ...string) report {
	r := report{Errors: map[string]int64{}, Versions: map[string]int64{},
		First: map[string]int64{}, Last: map[string]int64{}, ElapsedS: float64(len(answers)) / 100}
	cur := ""
	for i, v := range answers {
		r.Sent++
		if v == "" {
			r.Failed++
			r.Errors["connection refused"]++
			continue
		}
		r.OK++
		at := int64(i * 10)
		r.Versions[v]++
		if _, ok := r.First[v]; !ok {
			r.First[v] = at
		}
		r.Last[v] = at
		if cur != "" && v != cur {
			r.Switches = append(r.Switches, struct {
				AtMS    int64  `json:"at_ms"`
				Version string `json:"version"`
			}{at, v})
		}
		cur = v
	}
	return r
}

func TestJudge(t *testing.T) {
	v12 := expect{versions: []string{"v1", "v2"}}
	for _, tc := range []struct {
		name    string
		r       report
		e       expect
		summary string // a part of the summary
		problem string // a part of the only problem; "" for none
	}{
		{"a clean update", run("v1", "v1", "v2", "v1", "v2", "v2"), v12, "6 requests in 0.1 s, 0 failed, versions v1→v2 (v1 3 until 0.0 s, v2 3 from 0.0 s)", ""},
		{"one version only", run("v1", "v1"), expect{versions: []string{"v1"}}, "versions v1 (v1 2)", ""},
		{"no expectation on versions", run("v2", "v1"), expect{}, "versions v2→v1", ""},
		{"failed requests", run("v1", "", "v2", ""), v12, "2 failed", "2 of 4 requests failed (connection refused 2), want at most 0"},
		{"failures allowed", run("v1", "", "v2"), expect{versions: []string{"v1", "v2"}, maxFailed: 1}, "1 failed", ""},
		{"the new version never answered", run("v1", "v1"), v12, "versions v1", "answers came from v1 (by first answer), want v1→v2"},
		{"the wrong order", run("v2", "v1"), v12, "versions v2→v1", "answers came from v2→v1 (by first answer), want v1→v2"},
		{"ends on the old version", run("v1", "v2", "v1"), v12, "versions v1→v2", "the last answers came from v1, want v2"},
		{"nothing sent", report{}, v12, "0 requests", "no request was sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			summary, problems := judge(tc.r, tc.e)
			if !strings.Contains(summary, tc.summary) {
				t.Errorf("summary %q, want it to contain %q", summary, tc.summary)
			}
			switch {
			case tc.problem == "" && len(problems) > 0:
				t.Errorf("problems %q, want none", problems)
			case tc.problem != "" && (len(problems) != 1 || !strings.Contains(problems[0], tc.problem)):
				t.Errorf("problems %q, want one containing %q", problems, tc.problem)
			}
		})
	}
}

func TestReadReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.out")
	text := "t=1s sent=100 ok=100 failed=0 versions=v1:100\n" +
		`{"sent":1,"ok":1,"failed":0,"versions":{"v1":1}}` + "\n" +
		"t=2s sent=200 ok=200 failed=0 versions=v1:200\n" +
		`{"sent":200,"ok":199,"failed":1,"errors":{"timeout":1},"versions":{"v1":199},"switches":[],"first":{"v1":3},"last":{"v1":1990},"p99_ms":1.5,"elapsed_s":2}` + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := readReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 200 || r.Failed != 1 || r.Errors["timeout"] != 1 || r.Last["v1"] != 1990 || r.P99MS != 1.5 {
		t.Fatalf("read %+v, want the last report", r)
	}

	if err := os.WriteFile(path, []byte("t=1s sent=100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readReport(path); err == nil || !strings.Contains(err.Error(), "no probe load report") {
		t.Fatalf("a file without a report: %v, want an error saying so", err)
	}
}
