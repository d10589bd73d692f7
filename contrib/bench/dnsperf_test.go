package bench

import (
	"strings"
	"testing"
)

// dnsperfVerbose is dnsperf 2.10's output of a -v run (trimmed).
const dnsperfVerbose = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 5301 -d q.txt -n 2 -v
[Status] Sending queries (to 127.0.0.1:5301)
> NOERROR web01 A 0.000209
> NXDOMAIN nosuch01 A 0.000165
> T foo.upstream.test A
> NOERROR web01 A 0.000240
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         4
  Queries completed:    3 (75.00%)
  Queries lost:         1 (25.00%)

  Response codes:       NOERROR 2 (66.67%), NXDOMAIN 1 (33.33%)
  Average packet size:  request 28, response 41
  Run time (s):         0.001699
  Queries per second:   1765.744556

  Average Latency (s):  0.000205 (min 0.000165, max 0.000240)
  Latency StdDev (s):   0.000031
`

func TestParseDNSPerf(t *testing.T) {
	r, err := ParseDNSPerf(dnsperfVerbose)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 4 || r.Completed != 3 || r.Lost != 1 {
		t.Errorf("sent/completed/lost = %d/%d/%d, want 4/3/1", r.Sent, r.Completed, r.Lost)
	}
	if r.Rcodes["NOERROR"] != 2 || r.Rcodes["NXDOMAIN"] != 1 || len(r.Rcodes) != 2 {
		t.Errorf("rcodes %v", r.Rcodes)
	}
	if r.QPS != 1765.744556 || r.AvgLatency != 0.000205 || r.MinLatency != 0.000165 || r.MaxLatency != 0.00024 || r.StdDev != 0.000031 {
		t.Errorf("qps %v latency avg %v min %v max %v sd %v", r.QPS, r.AvgLatency, r.MinLatency, r.MaxLatency, r.StdDev)
	}
	want := []float64{0.000209, 0.000165, 0.00024}
	if len(r.Latencies) != len(want) {
		t.Fatalf("latencies %v, want %v", r.Latencies, want)
	}
	for i, v := range want {
		if r.Latencies[i] != v {
			t.Errorf("latency %d = %v, want %v", i, r.Latencies[i], v)
		}
	}
}

func TestParseDNSPerfNoAnswers(t *testing.T) {
	out := strings.Join([]string{
		"> T web01 A",
		"Statistics:",
		"  Queries sent:         1",
		"  Queries completed:    0 (0.00%)",
		"  Queries lost:         1 (100.00%)",
		"  Response codes:       ",
		"  Queries per second:   0.000000",
		"  Average Latency (s):  0.000000 (min 0.000000, max 0.000000)",
	}, "\n")
	r, err := ParseDNSPerf(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lost != 1 || r.QPS != 0 || len(r.Rcodes) != 0 || len(r.Latencies) != 0 {
		t.Errorf("got %+v", r)
	}
	if _, err := ParseDNSPerf("Error: could not open file\n"); err == nil {
		t.Error("output without statistics: no error")
	}
}

func TestDNSQueryFile(t *testing.T) {
	got := DNSQueryFile("A", []string{"a1", "a2", "a3"}, []string{"b1"}, nil)
	want := "a1 A\nb1 A\na2 A\nb1 A\na3 A\nb1 A\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
