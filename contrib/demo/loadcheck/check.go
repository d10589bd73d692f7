package main

import (
	"github.com/xoverlay/xoverlay/contrib/probe/loadreport"

	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// report is the JSON report of `probe load`.
type report = loadreport.Report

// expect is what a run should show: answers from the versions in this
// order (the first answers from the first one, the last from the last
// one), and at most maxFailed failed requests.
type expect struct {
	versions  []string
	maxFailed int64
}

// judge summarizes a run in one line and lists how it differs from e
// (nothing when it met it).
func judge(r report, e expect) (summary string, problems []string) {
	order := byFirstAnswer(r)
	summary = fmt.Sprintf("%d requests in %.1f s, %d failed, versions %s", r.Sent, r.ElapsedS, r.Failed, versionLine(r, order))
	if r.P99MS > 0 {
		summary += fmt.Sprintf(", p99 %.1f ms", r.P99MS)
	}
	switch {
	case r.Sent == 0:
		return summary, []string{"no request was sent: is the load generator's target right?"}
	case r.OK+r.Failed != r.Sent:
		problems = append(problems, fmt.Sprintf("the report does not add up: %d sent, %d ok, %d failed", r.Sent, r.OK, r.Failed))
	}
	if r.Failed > e.maxFailed {
		problems = append(problems, fmt.Sprintf("%d of %d requests failed (%s), want at most %d",
			r.Failed, r.Sent, errorLine(r.Errors), e.maxFailed))
	}
	switch want := e.versions; {
	case len(want) == 0:
	case !slices.Equal(order, want):
		problems = append(problems, fmt.Sprintf("answers came from %s (by first answer), want %s",
			joinOrNone(order, "→"), strings.Join(want, "→")))
	case finalVersion(r, order) != want[len(want)-1]:
		problems = append(problems, fmt.Sprintf("the last answers came from %s, want %s",
			finalVersion(r, order), want[len(want)-1]))
	}
	return summary, problems
}

// byFirstAnswer lists the versions that answered, earliest first.
func byFirstAnswer(r report) []string {
	vs := slices.Collect(maps.Keys(r.Versions))
	slices.SortFunc(vs, func(a, b string) int {
		return cmp.Or(cmp.Compare(r.First[a], r.First[b]), cmp.Compare(a, b))
	})
	return vs
}

// finalVersion is the version of the last answer: the last switch's,
// or the only one when answers never switched.
func finalVersion(r report, order []string) string {
	if n := len(r.Switches); n > 0 {
		return r.Switches[n-1].Version
	}
	return order[0]
}

// versionLine is "v1→v2 (v1 1000 until 6.3 s, v2 1345 from 2.1 s)".
func versionLine(r report, order []string) string {
	if len(order) == 0 {
		return "none"
	}
	parts := make([]string, len(order))
	for i, v := range order {
		parts[i] = fmt.Sprintf("%s %d", v, r.Versions[v])
		switch {
		case len(order) == 1:
		case i == 0:
			parts[i] += fmt.Sprintf(" until %.1f s", float64(r.Last[v])/1000)
		default:
			parts[i] += fmt.Sprintf(" from %.1f s", float64(r.First[v])/1000)
		}
	}
	return strings.Join(order, "→") + " (" + strings.Join(parts, ", ") + ")"
}

// errorLine is "connection refused 3, timeout 1", most frequent first.
func errorLine(errs map[string]int64) string {
	names := slices.Collect(maps.Keys(errs))
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(errs[b], errs[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, errs[n])
	}
	return joinOrNone(parts, ", ")
}

func joinOrNone(items []string, sep string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, sep)
}
