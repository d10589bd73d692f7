package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseUpdReport(t *testing.T) {
	out := "some noise\n" + `{"sent":1000,"ok":997,"failed":3,"errors":{"connection refused":2,"timeout":1},` +
		`"versions":{"v1":600,"v2":397},"switches":[{"at_ms":1200,"version":"v2"},{"at_ms":1210,"version":"v1"}],` +
		`"first":{"v1":2,"v2":1200},"last":{"v1":1500,"v2":1999},"p50_ms":0.8,"p99_ms":4.5,"max_ms":30,` +
		`"elapsed_s":2.0,"rate":500,"switches_truncated":false}` + "\n\n"
	r, err := parseUpdReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 1000 || r.Failed != 3 || r.Errors["connection refused"] != 2 || r.Versions["v2"] != 397 ||
		len(r.Switches) != 2 || r.Switches[1].Version != "v1" || r.Last["v1"] != 1500 || r.P99MS != 4.5 || r.Rate != 500 {
		t.Fatalf("parsed %+v", r)
	}
	if got := errorList(r.Errors); got != "connection refused ×2, timeout ×1" {
		t.Errorf("errorList = %q", got)
	}
	if got := errorList(nil); got != "none" {
		t.Errorf("errorList(nil) = %q", got)
	}
	sum := map[string]int64{"timeout": 4}
	addErrors(sum, r.Errors)
	if sum["timeout"] != 5 || sum["connection refused"] != 2 {
		t.Errorf("addErrors = %v", sum)
	}
}

func TestParseUpdReportBad(t *testing.T) {
	for _, out := range []string{
		"",
		"probe load: usage\n",
		`{"sent":0,"ok":0,"failed":0,"elapsed_s":1}`,
		`{"sent":10,"ok":9,"failed":0,"elapsed_s":1}`,
	} {
		if r, err := parseUpdReport(out); err == nil {
			t.Errorf("parseUpdReport(%q) = %+v, want an error", out, r)
		}
	}
}

func TestParseUpdEvent(t *testing.T) {
	line := `{"status":"start","id":"abc","from":"xo-demo:v2","Type":"container","Action":"start",` +
		`"Actor":{"ID":"abc","Attributes":{"image":"xo-demo:v2","name":"web.1","xo.service":"web"}},` +
		`"scope":"local","time":1700000000,"timeNano":1700000000123456789}`
	e, err := parseCtrEvent(2, line)
	if err != nil {
		t.Fatal(err)
	}
	if e.Host != 2 || e.Action != "start" || e.ID != "abc" || e.Image != "xo-demo:v2" || e.Labels["xo.service"] != "web" ||
		!e.At.Equal(time.Unix(0, 1700000000123456789)) {
		t.Fatalf("parsed %+v", e)
	}
	for _, bad := range []string{"{", `{"Type":"network","Action":"create","Actor":{"ID":"n"},"timeNano":1}`,
		`{"Type":"container","Action":"start","Actor":{"ID":"x"}}`} {
		if _, err := parseCtrEvent(1, bad); err == nil {
			t.Errorf("parseCtrEvent(%q): want an error", bad)
		}
	}
}

// ev is an event of a web replica (label app=web) at ms after updT0.
func updEv(host int, action, id, image string, msAfter int) updEvent {
	return updEvent{Host: host, Action: action, ID: id, Image: image, Labels: map[string]string{"app": "web"},
		At: updT0.Add(time.Duration(msAfter) * time.Millisecond)}
}

var updT0 = time.Unix(1700000000, 0)

func TestConvergedStopFirst(t *testing.T) {
	sel := updSel{hosts: []int{1, 2, 3}, key: "app", value: "web"}
	old := []string{"o1", "o2", "o3"}
	evs := []updEvent{
		updEv(1, "die", "o1", "xo-demo:v1", 100),
		updEv(1, "start", "n1", "xo-demo:v2", 400),
		updEv(2, "die", "o2", "xo-demo:v1", 1500),
		updEv(2, "start", "n2", "xo-demo:v2", 1800),
		updEv(3, "die", "o3", "xo-demo:v1", 2900),
		// another system's container on a host of the selection
		{Host: 3, Action: "start", ID: "x", Image: "xo-demo:v2", Labels: map[string]string{"app": "other"}, At: updT0.Add(3000 * time.Millisecond)},
		updEv(3, "start", "n3", "xo-demo:v2", 3200),
		updEv(3, "die", "n3", "xo-demo:v2", 9000), // later: not the update's end
	}
	d, ok := converged(evs, sel, old, updT0, 3, "xo-demo:v2")
	if !ok || !d.At.Equal(updT0.Add(3200*time.Millisecond)) || d.Started != 3 || d.Died != 3 {
		t.Fatalf("converged = %+v, %v; want +3200 ms, 3 started, 3 died", d, ok)
	}
	tl := timeline(evs, sel, updT0)
	if strings.Count(tl, "\n") != 7 || !strings.Contains(tl, "+3200.0 ms h3 start n3 xo-demo:v2 (22:13:23.200)") {
		t.Errorf("timeline:\n%s", tl)
	}
}

func TestConvergedStartFirst(t *testing.T) {
	sel := updSel{hosts: []int{1}, key: "app", value: "web"}
	old := []string{"o1", "o2", "o3"}
	// The last old one stops after the last new one started: its die ends
	// the update. A new container that failed and was replaced counts.
	evs := []updEvent{
		updEv(1, "start", "n1", "xo-demo:v2", 300),
		updEv(1, "die", "o1", "xo-demo:v1", 500),
		updEv(1, "start", "n2", "xo-demo:v2", 1600),
		updEv(1, "die", "n2", "xo-demo:v2", 1700),
		updEv(1, "start", "n2b", "xo-demo:v2", 1900),
		updEv(1, "die", "o2", "xo-demo:v1", 2100),
		updEv(1, "start", "n3", "xo-demo:v2", 3000),
		updEv(1, "die", "o3", "xo-demo:v1", 3300),
	}
	d, ok := converged(evs, sel, old, updT0, 3, "xo-demo:v2")
	if !ok || !d.At.Equal(updT0.Add(3300*time.Millisecond)) || d.Started != 4 || d.Died != 4 {
		t.Fatalf("converged = %+v, %v; want +3300 ms, 4 started, 4 died", d, ok)
	}
	// Events before since (the last round's) do not count; without the
	// last die it is not done.
	d, ok = converged(append([]updEvent{updEv(1, "die", "n1", "xo-demo:v2", -100)}, evs[:len(evs)-1]...), sel, old, updT0, 3, "xo-demo:v2")
	if ok {
		t.Fatalf("converged without the last old replica's die = %+v, want not done", d)
	}
	// A host outside the selection does not count.
	other := updSel{hosts: []int{2}, key: "app", value: "web"}
	if d, ok := converged(evs, other, old, updT0, 3, "xo-demo:v2"); ok {
		t.Fatalf("converged on another host = %+v, want not done", d)
	}
}

func TestNginxConfs(t *testing.T) {
	vip := ngxVIPConf("web", 8080)
	res := ngxResolverConf("web", 8080)
	for name, conf := range map[string]string{"vip": vip, "resolver": res} {
		if strings.Count(conf, "{") != strings.Count(conf, "}") || strings.Contains(conf, "daemon") ||
			!strings.Contains(conf, "listen 80;") || strings.Contains(conf, "%!") {
			t.Errorf("%s conf:\n%s", name, conf)
		}
	}
	if !strings.Contains(vip, "proxy_pass http://web:8080;") || strings.Contains(vip, "resolver") {
		t.Errorf("vip conf:\n%s", vip)
	}
	for _, want := range []string{"resolver 127.0.0.11 valid=1s;", "set $up web;", "proxy_pass http://$up:8080;"} {
		if !strings.Contains(res, want) {
			t.Errorf("resolver conf lacks %q:\n%s", want, res)
		}
	}
	if sel := (updSel{key: "xo.service", value: "web"}); sel.filter() != "label=xo.service=web" {
		t.Errorf("filter = %q", sel.filter())
	}
}

func TestShutdownTime(t *testing.T) {
	log := "demoapp: 2026/11/21 12:23:48.979776 version v1 listening on http/udp :8080, tcp echo 7, healthy=true\n" +
		"demoapp: 2026/11/21 12:23:50.109477 got terminated\n" +
		"demoapp: 2026/11/21 12:23:55.346642 bye\n"
	if d, ok := shutdownTime(log); !ok || d != 5237165*time.Microsecond {
		t.Fatalf("shutdownTime = %s, %v; want 5.237165s", d, ok)
	}
	for _, bad := range []string{"", "demoapp: 2026/11/21 12:23:50.109477 got terminated\n",
		"demoapp: 2026/11/21 12:23:55.346642 bye\n", "garbage\nmore garbage"} {
		if d, ok := shutdownTime(bad); ok {
			t.Errorf("shutdownTime(%q) = %s, want not ok", bad, d)
		}
	}
}
