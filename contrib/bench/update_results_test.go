package bench

// Scenario update's figures (untagged, so plain `go test` checks them):
// the per-round measurements of each variant turned into the report's
// rows, ratios and notes.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The update every system makes, and the load during it.
const (
	updService  = "web"
	updPort     = 8080
	updReplicas = 3
	updImageV1  = "xo-demo:v1"
	updImageV2  = "xo-demo:v2"
	updDelay    = time.Second // --update-delay, and the naive script's pause
	updMonitor  = time.Second // --update-monitor (xoverlay and Swarm): how long their CLI watches after the last task
	updTarget   = 500         // requests/s the target asks for, per load
	updRate     = 510         // requests/s each load is asked for
	updConns    = 1024        // requests in flight at most per load: a 2 s timeout's worth, so a stall shows as latency, not as failures
	updLoadMax  = 2 * time.Minute
	updSettle   = time.Second // after a reset, before the load
	updWarmup   = time.Second // load before the update command
	updTail     = time.Second // load after the update was done
	updTimeout  = 90 * time.Second
)

// The variants' names, as in the report.
const (
	updXoStart    = "xoverlay, start-first"
	updXoStop     = "xoverlay, stop-first"
	updNaiveName  = "naive (docker stop + docker run)"
	updSwarmStop  = "Swarm, stop-first"
	updSwarmStart = "Swarm, start-first"
)

// updTrial is one measured update's figures.
type updTrial struct {
	duration float64 // ms: the command's start to the update done (engine events)
	command  float64 // ms: the command's start to its return
	started  int     // replica containers started
	shutdown float64 // ms: the slowest old replica's stop, SIGTERM to exit (its log); -1 when no log told
	reports  map[string]updReport
}

// updPathNames are the load paths of trials, in report order.
func updPathNames(trials []updTrial) []string {
	var names []string
	for _, tr := range trials {
		for name := range tr.reports {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// updTotals sums a variant's reports through one path over its rounds.
func updTotals(trials []updTrial, path string) (failed, sent int64, minRate float64, errs map[string]int64) {
	minRate, errs = math.Inf(1), map[string]int64{}
	for _, tr := range trials {
		r, ok := tr.reports[path]
		if !ok {
			continue
		}
		failed += r.Failed
		sent += r.Sent
		minRate = math.Min(minRate, r.Rate)
		addErrors(errs, r.Errors)
	}
	return failed, sent, minRate, errs
}

// updResults fills res's rows, ratios and notes from the trials of each
// variant (names in report order).
func updResults(res *Result, names []string, trials map[string][]updTrial) {
	per := func(name string, f func(updTrial) float64) []float64 {
		var vs []float64
		for _, tr := range trials[name] {
			vs = append(vs, f(tr))
		}
		return vs
	}
	row := func(name, metric, unit string, vs []float64, samples int) Row {
		return Row{System: name, Metric: metric, Unit: unit, Median: F(updRound(Median(vs))), Rounds: updRounds(vs), Samples: samples}
	}
	var sideBySide, errNotes []string
	extra := false
	for _, name := range names {
		ts := trials[name]
		res.Rows = append(res.Rows,
			row(name, "update duration: command start → 3 replicas of v2 running, every v1 stopped", "ms",
				per(name, func(tr updTrial) float64 { return tr.duration }), len(ts)),
			row(name, "update command returned", "ms", per(name, func(tr updTrial) float64 { return tr.command }), len(ts)))
		if sd := per(name, func(tr updTrial) float64 { return tr.shutdown }); !slices.ContainsFunc(sd, func(v float64) bool { return v < 0 }) {
			res.Rows = append(res.Rows, row(name, "slowest old replica's stop: SIGTERM → exit (the demo app's log)", "ms", sd, len(ts)))
		}
		var paths []string
		for _, p := range updPathNames(ts) {
			failed, sent, _, errs := updTotals(ts, p)
			rep := func(f func(updReport) float64) []float64 {
				return per(name, func(tr updTrial) float64 { return f(tr.reports[p]) })
			}
			res.Rows = append(res.Rows,
				row(name, "failed requests through "+p, "requests", rep(func(r updReport) float64 { return float64(r.Failed) }), int(sent)),
				row(name, "requests sent through "+p, "requests", rep(func(r updReport) float64 { return float64(r.Sent) }), int(sent)),
				row(name, "latency p99 through "+p, "ms", rep(func(r updReport) float64 { return r.P99MS }), int(sent)),
				row(name, "latency max through "+p, "ms", rep(func(r updReport) float64 { return r.MaxMS }), int(sent)))
			paths = append(paths, fmt.Sprintf("%s %s of %s", p, thousands(failed), thousands(sent)))
			if failed > 0 {
				errNotes = append(errNotes, fmt.Sprintf("%s through %s: %s", name, p, errorList(errs)))
			}
		}
		sideBySide = append(sideBySide, name+": "+strings.Join(paths, ", "))
		for _, tr := range ts {
			extra = extra || tr.started > updReplicas
		}
	}
	med := func(name string) float64 { return Median(per(name, func(tr updTrial) float64 { return tr.duration })) }
	for _, o := range []struct{ xo, swarm, order string }{{updXoStart, updSwarmStart, "start-first"}, {updXoStop, updSwarmStop, "stop-first"}} {
		if len(trials[o.xo]) > 0 && len(trials[o.swarm]) > 0 {
			res.Ratios = append(res.Ratios, NewRatio(fmt.Sprintf("xoverlay / Swarm, update duration, %s (median; target: within 2× Swarm's)", o.order),
				med(o.xo), med(o.swarm), "<=", 2))
		}
	}
	var xoFailed, xoSent int64
	xoRate := math.Inf(1)
	for _, name := range []string{updXoStart, updXoStop} {
		for _, p := range updPathNames(trials[name]) {
			f, s, rate, _ := updTotals(trials[name], p)
			xoFailed, xoSent, xoRate = xoFailed+f, xoSent+s, math.Min(xoRate, rate)
		}
	}
	if xoSent > 0 {
		res.Ratios = append(res.Ratios,
			NewRatio(fmt.Sprintf("xoverlay, failed / sent requests (both orders, VIP and nginx, all rounds: %s of %s)",
				thousands(xoFailed), thousands(xoSent)), float64(xoFailed), float64(xoSent), "<=", 0),
			NewRatio(fmt.Sprintf("xoverlay, lowest load rate of a run (%.1f requests/s) / %d requests/s", xoRate, updTarget),
				xoRate, updTarget, ">=", 1))
	}
	if len(trials[updXoStop]) > 0 && len(trials[updNaiveName]) > 0 {
		res.Ratios = append(res.Ratios, NewRatio("xoverlay stop-first / naive, update duration (median)", med(updXoStop), med(updNaiveName), "", 0))
	}
	res.Notes = append(res.Notes, "Failed requests out of requests sent, all rounds, side by side: "+strings.Join(sideBySide, "; ")+".",
		"The update's duration includes the last old replica's exit. The demo app stops like any Go net/http server "+
			"(`Server.Shutdown`): it finishes the requests in flight, and waits up to 5 s for connections that were "+
			"opened but have not sent a request yet. A keep-alive client can hold such a spare connection (the load "+
			"through xoverlay's VIP is one: Go's transport dials a connection for a request that an idle one then "+
			"serves, and keeps the new one idle); nginx, one connection per request, holds none. The row \"slowest "+
			"old replica's stop\" shows that wait.")
	if len(errNotes) > 0 {
		res.Notes = append(res.Notes, "What the failed requests got (the load generator's error texts, all rounds): "+strings.Join(errNotes, "; ")+".")
	}
	if extra {
		res.Notes = append(res.Notes, "Some updates started more than 3 new replica containers (a replacement that failed "+
			"and was replaced again); the duration counts until 3 of v2 ran.")
	}
}

// updRan is the report's "what ran" paragraph.
func updRan(nRounds int) string {
	return fmt.Sprintf("Three simulated hosts (each its own network namespace and dockerd 20.10, on one underlay bridge, "+
		"198.18.0.11-13), each running `xo agent` with its default settings, formed into one cluster of three managers. "+
		"The same update on three systems, side by side: %d replicas of the demo app (`%s`, `VERSION=v1`) updated to "+
		"`%s` with `VERSION=v2`, one replica at a time with a delay of %s between two, under a steady open-loop load of "+
		"%d requests/s per way in (`probe load`, contrib/probe: GET /, keep-alive connections, timeout 2 s, at most %d "+
		"requests in flight (one more would count as failed, \"overload\"), every failure counted, every answer's version "+
		"recorded), started %s before the update command and stopped %s after the update "+
		"was done. "+
		"**xoverlay**: `xo service create --replicas 3` on an xoverlay network (one task per host), then `xo service update "+
		"--image %s --env-add VERSION=v2 --update-order start-first|stop-first --update-parallelism 1 --update-delay %s "+
		"--update-monitor %s`; two loads at once from a client container on h1: through the service VIP (`http://web:8080/`) "+
		"and through an nginx container (`xo-nginx`, on the network, on h2) with `proxy_pass http://web:8080;`. "+
		"**naive**: 3 containers on a user-defined bridge network of h2 with the network alias `web`, nginx in front "+
		"(`resolver 127.0.0.11 valid=1s; set $up web; proxy_pass http://$up:8080;`), replaced one by one by `docker stop` "+
		"then `docker run` of the new version, %s apart. "+
		"**Swarm**: h3's engine made a one-node swarm (`docker swarm init --advertise-addr 198.18.0.13 --data-path-port %s`, "+
		"since xoverlay's VXLAN uses 4789 on the same host), an attachable overlay network, `docker service create "+
		"--endpoint-mode dnsrr --replicas 3 --no-resolve-image` (Swarm's VIP needs ip_vs, which this kernel lacks), nginx "+
		"in front resolving `web` through 127.0.0.11 as for the naive way, then `docker service update --image %s --env-add "+
		"VERSION=v2 --no-resolve-image --update-order stop-first|start-first --update-parallelism 1 --update-delay %s "+
		"--update-monitor %s`; the swarm is left at the end. "+
		"Before each measured update the system is brought back to v1 untimed (xoverlay and Swarm: an update of every "+
		"task at once; naive: the containers removed and run again). The update's duration runs from the update "+
		"command's start to the engines' event after which exactly 3 replica containers run, all started from the new "+
		"image, none of the old ones (`docker events` on every engine; one clock); none of the images has a HEALTHCHECK, so "+
		"a replica counts as ready when it runs, for all three systems (xoverlay sends it requests only once the TCP "+
		"ports its image exposes accept connections). No health checks and no `--stop-grace-period`: the "+
		"demo app stops serving at SIGTERM, finishing the requests in flight. %d rounds, the five variants interleaved "+
		"with the order rotating from round to round; medians of the per-round values.",
		updReplicas, updImageV1, updImageV2, updDelay, updRate, updConns, updWarmup, updTail, updImageV2, updDelay, updMonitor, updDelay,
		updSwarmPort, updImageV2, updDelay, updMonitor, nRounds)
}

// updSwarmPort is the swarm's data path port: not 4789, which the
// xoverlay networks of the same host use.
const updSwarmPort = "4790"

// thousands formats n with commas every three digits.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// updRound rounds v to 2 decimals; updRounds rounds each of vs so.
func updRound(v float64) float64 { return math.Round(v*100) / 100 }

func updRounds(vs []float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = updRound(v)
	}
	return out
}
