package bench

import (
	"encoding/json"
	"strings"
	"testing"
)

// updTrialOf is a trial with reports failing failed of 1,000 requests
// through each path.
func updTrialOf(duration float64, failed int64, paths ...string) updTrial {
	tr := updTrial{duration: duration, command: duration + 1000, started: 3, shutdown: 20, reports: map[string]updReport{}}
	for _, p := range paths {
		r := updReport{Sent: 1000, OK: 1000 - failed, Failed: failed, P99MS: 3, Rate: 510, ElapsedS: 2}
		if failed > 0 {
			r.Errors = map[string]int64{"connection refused": failed}
		}
		tr.reports[p] = r
	}
	return tr
}

func TestUpdResults(t *testing.T) {
	names := []string{updXoStart, updXoStop, updNaiveName, updSwarmStop, updSwarmStart}
	trials := map[string][]updTrial{
		updXoStart:    {updTrialOf(6000, 0, "VIP", "nginx"), updTrialOf(5000, 0, "VIP", "nginx"), updTrialOf(7000, 0, "VIP", "nginx")},
		updXoStop:     {updTrialOf(4000, 0, "VIP", "nginx"), updTrialOf(4000, 0, "VIP", "nginx"), updTrialOf(4000, 0, "VIP", "nginx")},
		updNaiveName:  {updTrialOf(3000, 12, "nginx"), updTrialOf(3000, 10, "nginx"), updTrialOf(3000, 11, "nginx")},
		updSwarmStop:  {updTrialOf(5000, 4, "nginx"), updTrialOf(5000, 0, "nginx"), updTrialOf(5000, 1, "nginx")},
		updSwarmStart: {updTrialOf(4000, 0, "nginx"), updTrialOf(3000, 0, "nginx"), updTrialOf(5000, 0, "nginx")},
	}
	trials[updXoStop][1].started = 4
	trials[updNaiveName][2].shutdown = -1 // no row for the naive way
	res := &Result{Scenario: "update"}
	updResults(res, names, trials)
	// 2 rows per variant (3 with the stops), 4 per path: xoverlay 2
	// paths, the others 1.
	if want := 5*2 + 4 + 2*2*4 + 3*4; len(res.Rows) != want {
		t.Fatalf("%d rows, want %d", len(res.Rows), want)
	}
	if r := res.Rows[0]; r.System != updXoStart || *r.Median != 6000 || len(r.Rounds) != 3 {
		t.Errorf("first row %+v", r)
	}
	if q := res.Ratios[0]; !strings.Contains(q.Name, "start-first") || q.Value != 1.5 || !q.Met {
		t.Errorf("start-first duration ratio %+v, want 6000/4000 met", q)
	}
	if q := res.Ratios[1]; !strings.Contains(q.Name, "stop-first") || q.Value != 0.8 || !q.Met {
		t.Errorf("stop-first duration ratio %+v, want 4000/5000 met", q)
	}
	if q := res.Ratios[2]; !strings.Contains(q.Name, "0 of 12,000") || q.Value != 0 || q.Op != "<=" || !q.Met {
		t.Errorf("xoverlay failed ratio %+v", q)
	}
	if q := res.Ratios[3]; q.Value != 510.0/500 || !q.Met {
		t.Errorf("rate ratio %+v", q)
	}
	if len(res.Ratios) != 5 {
		t.Errorf("ratios %+v", res.Ratios)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, want := range []string{"naive (docker stop + docker run): nginx 33 of 3,000", "Swarm, stop-first: nginx 5 of 3,000",
		"xoverlay, start-first: VIP 0 of 3,000, nginx 0 of 3,000", "connection refused ×33", "more than 3 new replica containers"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the result does not marshal: %v", err)
	}

	// A failed xoverlay request fails the target; a missing peer leaves
	// its ratio out rather than dividing by nothing.
	trials[updXoStart][2] = updTrialOf(7000, 2, "VIP", "nginx")
	delete(trials, updSwarmStart)
	res = &Result{Scenario: "update"}
	updResults(res, []string{updXoStart, updXoStop, updNaiveName, updSwarmStop}, trials)
	if q := res.Ratios[1]; !strings.Contains(q.Name, "4 of 12,000") || q.Met {
		t.Errorf("xoverlay failed ratio %+v, want not met", q)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Errorf("the result does not marshal: %v", err)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12000: "-12,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestUpdRan(t *testing.T) {
	ran := updRan(3)
	for _, want := range []string{"--update-order start-first|stop-first --update-parallelism 1 --update-delay 1s",
		"--data-path-port " + updSwarmPort, "--endpoint-mode dnsrr", "510 requests/s", "at most 1024", "3 rounds"} {
		if !strings.Contains(ran, want) {
			t.Errorf("updRan lacks %q:\n%s", want, ran)
		}
	}
	if strings.Contains(ran, "%!") {
		t.Errorf("updRan has a formatting error:\n%s", ran)
	}
}
