package bench

// The pure part of scenario update (untagged, so plain `go test` checks
// it): the load generator's report, the engines' container events and
// the moment an update was done in them, and the nginx configurations.

import (
	"github.com/xoverlay/xoverlay/contrib/probe/loadreport"

	"fmt"
	"slices"
	"strings"
	"time"
)

// updReport is the one JSON line `probe load` prints at its end.
type updReport = loadreport.Report

// parseUpdReport reads the report from `probe load`'s standard output
// and checks that it adds up.
func parseUpdReport(stdout string) (updReport, error) {
	r, err := loadreport.Parse(stdout)
	if err != nil {
		return r, err
	}
	if r.Sent <= 0 || r.ElapsedS <= 0 || r.OK+r.Failed != r.Sent {
		return r, fmt.Errorf("probe load's report %+v: want sent > 0, elapsed_s > 0 and ok + failed = sent", r)
	}
	return r, nil
}

// errorList renders an errors map as "text ×count, ..." (most frequent
// first), or "none".
func errorList(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// addErrors adds the counts of src to dst.
func addErrors(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// updEvent is one container start or die event of one engine.
type updEvent = ctrEvent

// updSel selects the replica containers of one system: on one of its
// hosts, with its label.
type updSel struct {
	hosts      []int
	key, value string
}

func (s updSel) match(e updEvent) bool {
	return slices.Contains(s.hosts, e.Host) && e.Labels[s.key] == s.value
}

// filter is a label filter for `docker ps` selecting the same containers.
func (s updSel) filter() string { return "label=" + s.key + "=" + s.value }

// updDone is when an update was done, read from the engines' events.
type updDone struct {
	At      time.Time // the event after which it was done
	Started int       // containers of the selection started meanwhile
	Died    int       // containers of the selection that died meanwhile
}

// converged replays the selection's start and die events at or after
// since (in time order) over the set of containers running at since,
// old, and returns the first moment at which exactly n containers run,
// none of them one of old and every one started from image img: the
// update from old to img is done (the new replicas run, the old ones
// stopped). ok is false when that moment is not in evs.
func converged(evs []updEvent, sel updSel, old []string, since time.Time, n int, img string) (d updDone, ok bool) {
	running := map[string]string{} // ID -> image ("" for an old one)
	for _, id := range old {
		running[id] = ""
	}
	sorted := slices.Clone(evs)
	slices.SortStableFunc(sorted, func(a, b updEvent) int { return a.At.Compare(b.At) })
	for _, e := range sorted {
		if e.At.Before(since) || !sel.match(e) {
			continue
		}
		switch e.Action {
		case "start":
			running[e.ID] = e.Image
			d.Started++
		case "die":
			if _, ok := running[e.ID]; ok {
				delete(running, e.ID)
				d.Died++
			}
		default:
			continue
		}
		if len(running) != n {
			continue
		}
		done := true
		for _, image := range running {
			done = done && image == img
		}
		if done {
			d.At = e.At
			return d, true
		}
	}
	return d, false
}

// timeline renders the selection's events from since as "+MS hN ACTION
// ID IMAGE (CLOCK)" lines, for the log of a run; CLOCK is the event's
// time of day in UTC, as nginx's and the agents' logs show it.
func timeline(evs []updEvent, sel updSel, since time.Time) string {
	sorted := slices.Clone(evs)
	slices.SortStableFunc(sorted, func(a, b updEvent) int { return a.At.Compare(b.At) })
	var b strings.Builder
	for _, e := range sorted {
		if e.At.Before(since) || !sel.match(e) {
			continue
		}
		fmt.Fprintf(&b, "  %+8.1f ms h%d %-5s %.12s %s (%s)\n", float64(e.At.Sub(since))/float64(time.Millisecond),
			e.Host, e.Action, e.ID, e.Image, e.At.UTC().Format("15:04:05.000"))
	}
	return b.String()
}

// ngxBase is the nginx.conf of the xo-nginx containers around one
// location block: one worker and the error log on stderr (docker logs),
// as the image's own example configuration, and an access log of the
// failed requests alone (on stdout, with the time in ms and the upstream
// nginx tried), for the diagnosis. The image runs nginx with -g "daemon
// off;".
const ngxBase = `worker_processes 1;
error_log stderr warn;
pid /run/nginx.pid;
events {
    worker_connections 1024;
}
http {
    map $status $failed {
        ~^[23] 0;
        default 1;
    }
    log_format failed '$msec status=$status upstream=$upstream_addr upstream_status=$upstream_status '
                      'connect=$upstream_connect_time time=$request_time';
    access_log /dev/stdout failed if=$failed;
    default_type application/octet-stream;
    server {
        listen 80;
        location / {
%s            proxy_connect_timeout 2s;
        }
    }
}
`

// ngxVIPConf is nginx in front of an xoverlay service: the name, resolved
// once at nginx's start, is the service's VIP.
func ngxVIPConf(service string, port int) string {
	return fmt.Sprintf(ngxBase, fmt.Sprintf("            proxy_pass http://%s:%d;\n", service, port))
}

// ngxResolverConf is nginx in front of containers that Docker's embedded
// DNS (127.0.0.11) answers by name: the name is resolved again once its
// answer is a second old, and nginx spreads the requests over the
// addresses of the answer.
func ngxResolverConf(service string, port int) string {
	return fmt.Sprintf(ngxBase, fmt.Sprintf("            resolver 127.0.0.11 valid=1s;\n"+
		"            set $up %s;\n            proxy_pass http://$up:%d;\n", service, port))
}

// shutdownTime reads, from the demo app's log, how long its last stop
// took: from "got terminated" (SIGTERM) to "bye" (its HTTP server shut
// down: Go's Server.Shutdown waits for the requests in flight, and for
// connections that were opened but have not sent a request yet, up to
// 5 s). ok is false when the log does not show a whole stop.
func shutdownTime(log string) (d time.Duration, ok bool) {
	var got time.Time
	for _, l := range strings.Split(log, "\n") {
		rest, found := strings.CutPrefix(strings.TrimSpace(l), "demoapp: ")
		if !found || len(rest) < 27 {
			continue
		}
		at, err := time.Parse("2006/01/02 15:04:05.000000", rest[:26])
		if err != nil {
			continue
		}
		switch msg := rest[27:]; {
		case strings.HasPrefix(msg, "got terminated"):
			got, ok = at, false
		case msg == "bye" && !got.IsZero():
			d, ok = at.Sub(got), true
		}
	}
	return d, ok
}
