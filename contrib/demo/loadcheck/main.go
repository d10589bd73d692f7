// Command loadcheck reads the JSON report of `probe load` (the last line
// of a file that starts with "{"), prints a one-line summary, and exits 1
// when the run does not show what it should: more failed requests than
// -max-failed, or answers from other versions than -versions, in another
// order, or not ending on the last one. The demo (contrib/demo/demo.sh)
// uses it to check each rolling update.
//
//	loadcheck [-label TEXT] [-versions v1,v2] [-max-failed 0] REPORT
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/xoverlay/xoverlay/contrib/probe/loadreport"
)

func main() {
	label := flag.String("label", "load", "what the run went through, printed before the summary")
	versions := flag.String("versions", "", "versions expected, comma-separated, in the order they answer first")
	maxFailed := flag.Int64("max-failed", 0, "failed requests allowed")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: loadcheck [-label TEXT] [-versions v1,v2] [-max-failed N] REPORT")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	r, err := readReport(flag.Arg(0))
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadcheck: %s: %v\n", *label, err)
		os.Exit(2)
	}
	e := expect{maxFailed: *maxFailed}
	if *versions != "" {
		e.versions = strings.Split(*versions, ",")
	}
	summary, problems := judge(r, e)
	fmt.Printf("%s: %s\n", *label, summary)
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "loadcheck: %s: %s\n", *label, p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// readReport decodes the last line of path that starts with "{".
func readReport(path string) (report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return report{}, fmt.Errorf("reading the load report: %w", err)
	}
	r, err := loadreport.Parse(string(b))
	if err != nil {
		return report{}, fmt.Errorf("%s: %w (did probe load run to its end?)", path, err)
	}
	return r, nil
}
