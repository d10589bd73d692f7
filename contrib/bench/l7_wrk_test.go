package bench

// The pure part of scenario l7 (untagged, so plain `go test` checks it):
// reading wrk's report.

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what scenario l7 reads from one `wrk --latency` run.
type wrkResult struct {
	RPS      float64       // "Requests/sec:"
	Requests int           // "N requests in ..."
	P50, P99 time.Duration // "Latency Distribution" 50% and 99%
	Non2xx   int           // "Non-2xx or 3xx responses:"
	Errors   int           // "Socket errors:" connect + read + write + timeout
}

// parseWrk reads the report wrk prints with --latency.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS, haveReqs, inDist bool
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "Requests/sec:" && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: requests/sec %q: %w", f[1], err)
			}
			r.RPS, haveRPS = v, true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return r, fmt.Errorf("wrk: request count %q: %w", f[0], err)
			}
			r.Requests, haveReqs = n, true
		case strings.HasPrefix(strings.TrimSpace(l), "Latency Distribution"):
			inDist = true
		case inDist && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			switch f[0] {
			case "50%":
				r.P50 = d
			case "99%":
				r.P99 = d
			}
		case strings.HasPrefix(strings.TrimSpace(l), "Non-2xx or 3xx responses:"):
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return r, fmt.Errorf("wrk: non-2xx count %q: %w", f[len(f)-1], err)
			}
			r.Non2xx = n
		case f[0] == "Socket" && len(f) > 1 && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				if err != nil {
					return r, fmt.Errorf("wrk: socket errors %q: %w", l, err)
				}
				r.Errors += n
			}
		default:
			inDist = false
		}
	}
	if !haveRPS || !haveReqs {
		return r, fmt.Errorf("wrk: no Requests/sec or request count in its output: %.300q", out)
	}
	if r.P99 == 0 {
		return r, fmt.Errorf("wrk: no 99%% latency in its output (run it with --latency): %.300q", out)
	}
	return r, nil
}

// parseWrkDuration reads wrk's durations: "850.00us", "1.50ms", "2.01s",
// "1.00m".
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"m", time.Minute}, {"h", time.Hour}, {"s", time.Second}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("wrk: latency %q: not a number of %s", s, u.suffix)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("wrk: latency %q: unknown unit", s)
}
