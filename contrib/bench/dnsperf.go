package bench

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// DNSPerf is what the "dns" scenario reads from one dnsperf run: the
// summary, and with -v the latency of every answered query.
type DNSPerf struct {
	Sent, Completed, Lost int
	// Rcodes counts the responses by rcode name ("NOERROR", "NXDOMAIN").
	Rcodes map[string]int
	// QPS is dnsperf's "Queries per second" (completed queries / run time).
	QPS float64
	// AvgLatency, MinLatency, MaxLatency and StdDev are dnsperf's, in seconds.
	AvgLatency, MinLatency, MaxLatency, StdDev float64
	// Latencies are the per-query latencies of -v ("> RCODE NAME TYPE
	// SECONDS" lines), in seconds; timed-out queries ("> T ...") are not
	// in it but in Lost.
	Latencies []float64
}

// ParseDNSPerf reads dnsperf 2.x output (stdout; the summary is there
// too). It fails when the summary is missing.
func ParseDNSPerf(out string) (DNSPerf, error) {
	r := DNSPerf{Rcodes: map[string]int{}}
	var seen int
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(l, "> "); ok {
			f := strings.Fields(rest)
			if len(f) < 4 || f[0] == "T" || f[0] == "I" {
				continue
			}
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return r, fmt.Errorf("dnsperf: latency in %q: %w", l, err)
			}
			r.Latencies = append(r.Latencies, v)
			continue
		}
		key, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Queries sent":
			r.Sent, err = firstInt(val)
			seen++
		case "Queries completed":
			r.Completed, err = firstInt(val)
			seen++
		case "Queries lost":
			r.Lost, err = firstInt(val)
		case "Response codes":
			err = parseRcodes(val, r.Rcodes)
		case "Queries per second":
			r.QPS, err = strconv.ParseFloat(val, 64)
			seen++
		case "Average Latency (s)":
			err = parseAvgLatency(val, &r)
		case "Latency StdDev (s)":
			r.StdDev, err = strconv.ParseFloat(val, 64)
		}
		if err != nil {
			return r, fmt.Errorf("dnsperf: %q: %w", l, err)
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("dnsperf output: %w", err)
	}
	if seen != 3 {
		return r, fmt.Errorf("dnsperf: no statistics in the output: %.300q", out)
	}
	return r, nil
}

func firstInt(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("no number")
	}
	return strconv.Atoi(f[0])
}

// parseRcodes reads "NOERROR 200 (66.67%), NXDOMAIN 100 (33.33%)".
func parseRcodes(s string, into map[string]int) error {
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		into[f[0]] += n
	}
	return nil
}

// parseAvgLatency reads "0.000120 (min 0.000021, max 0.000509)".
func parseAvgLatency(s string, r *DNSPerf) error {
	s = strings.NewReplacer("(", " ", ")", " ", ",", " ").Replace(s)
	f := strings.Fields(s)
	if len(f) != 5 || f[1] != "min" || f[3] != "max" {
		return fmt.Errorf("unexpected format")
	}
	var err error
	if r.AvgLatency, err = strconv.ParseFloat(f[0], 64); err != nil {
		return err
	}
	if r.MinLatency, err = strconv.ParseFloat(f[2], 64); err != nil {
		return err
	}
	r.MaxLatency, err = strconv.ParseFloat(f[4], 64)
	return err
}

// DNSQueryFile renders dnsperf input ("NAME TYPE" lines): the names of
// each group in turn, round-robin, so every stretch of the file has the
// same mix. Each group is repeated until the longest one is used up.
func DNSQueryFile(qtype string, groups ...[]string) string {
	longest := 0
	for _, g := range groups {
		longest = max(longest, len(g))
	}
	var b strings.Builder
	for i := range longest {
		for _, g := range groups {
			if len(g) > 0 {
				fmt.Fprintf(&b, "%s %s\n", g[i%len(g)], qtype)
			}
		}
	}
	return b.String()
}
