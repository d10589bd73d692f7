// Command report writes contrib/bench/REPORT.md from the benchmark results
// files contrib/bench/results/*.json (one per scenario, see package
// contrib/bench), so that running one scenario keeps the other sections.
//
//	go run ./contrib/bench/report [-results DIR] [-out FILE]
//	go run ./contrib/bench/report -list
//
// -list prints the known scenarios, one a line: the name, then the Debian
// packages it needs (contrib/bench/run.sh reads it). Paths are relative to
// the working directory, the repository root when run by run.sh.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xoverlay/xoverlay/contrib/bench"
)

func main() {
	results := flag.String("results", "contrib/bench/results", "directory of the results files")
	out := flag.String("out", "contrib/bench/REPORT.md", "report to write")
	list := flag.Bool("list", false, "print the scenarios and the packages they need, then exit")
	flag.Parse()
	if *list {
		for _, s := range bench.Scenarios {
			fmt.Println(strings.TrimSpace(s.Name + " " + strings.Join(s.Packages, " ")))
		}
		return
	}
	rs, err := bench.ReadAll(*results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	var b bytes.Buffer
	render(&b, rs)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "report: wrote %s (%d scenario(s))\n", *out, len(rs))
}
