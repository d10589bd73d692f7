package bench

// The pure part of scenario services (untagged, so plain `go test` checks
// it): reading the engines' container events and finding, in them, the
// replacement of a dead task or of a dead host's tasks.

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// Event actions the scenario reads.
const (
	actCreate  = "create"
	actStart   = "start"
	actDie     = "die"
	actHealthy = "health_status: healthy"
)

// ctrEvent is one container event of one engine.
type ctrEvent struct {
	Host    int // the simulated host whose engine sent it
	Action  string
	ID      string // container ID
	Name    string // container name
	Service string // label xo.service
	Task    string // label xo.task ("" for a container no executor made)
	Image   string
	Labels  map[string]string // the container's labels (and name, image, exitCode)
	At      time.Time
}

// parseCtrEvent reads one line of `docker events --format '{{json .}}'`.
func parseCtrEvent(host int, line string) (ctrEvent, error) {
	var m struct {
		Type   string `json:"Type"`
		Action string `json:"Action"`
		Actor  struct {
			ID         string            `json:"ID"`
			Attributes map[string]string `json:"Attributes"`
		} `json:"Actor"`
		TimeNano int64 `json:"timeNano"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return ctrEvent{}, fmt.Errorf("h%d: docker events line %.200q: %w", host, line, err)
	}
	if m.Type != "container" || m.Action == "" || m.Actor.ID == "" || m.TimeNano <= 0 {
		return ctrEvent{}, fmt.Errorf("h%d: docker events line %.200q: not a container event with an action, an ID and a time", host, line)
	}
	a := m.Actor.Attributes
	return ctrEvent{Host: host, Action: m.Action, ID: m.Actor.ID, Name: a["name"], Service: a["xo.service"],
		Task: a["xo.task"], Image: a["image"], Labels: a, At: time.Unix(0, m.TimeNano)}, nil
}

// byTime returns the events sorted by time (stable: an engine's own order
// is kept for equal times).
func byTime(evs []ctrEvent) []ctrEvent {
	s := slices.Clone(evs)
	slices.SortStableFunc(s, func(a, b ctrEvent) int { return a.At.Compare(b.At) })
	return s
}

// firstEvent returns the earliest event at or after since with the
// action that ok accepts.
func firstEvent(evs []ctrEvent, action string, since time.Time, ok func(ctrEvent) bool) (ctrEvent, bool) {
	for _, e := range byTime(evs) {
		if e.Action == action && !e.At.Before(since) && ok(e) {
			return e, true
		}
	}
	return ctrEvent{}, false
}

// replacement finds the replacement of a task whose container died at
// dieAt: the first container of service svc, of another task, to start
// at or after dieAt, and (with healthy) the moment that container
// reported healthy. ok is false until both are seen.
func replacement(evs []ctrEvent, svc, deadTask string, dieAt time.Time, healthy bool) (start, ready ctrEvent, ok bool) {
	start, ok = firstEvent(evs, actStart, dieAt, func(e ctrEvent) bool {
		return e.Service == svc && e.Task != "" && e.Task != deadTask
	})
	if !ok || !healthy {
		return start, start, ok
	}
	ready, ok = firstEvent(evs, actHealthy, start.At, func(e ctrEvent) bool { return e.ID == start.ID })
	return start, ready, ok
}

// replacedAll finds when n tasks of service svc had started on hosts
// other than dead, at or after since: the replacements of the n tasks a
// dead host ran. It returns the starts in order; ok is false until there
// are n of them (distinct tasks).
func replacedAll(evs []ctrEvent, svc string, dead int, since time.Time, n int) ([]ctrEvent, bool) {
	seen := map[string]bool{}
	var starts []ctrEvent
	for _, e := range byTime(evs) {
		if e.Action != actStart || e.Service != svc || e.Task == "" || e.Host == dead || e.At.Before(since) || seen[e.Task] {
			continue
		}
		seen[e.Task] = true
		starts = append(starts, e)
		if len(starts) == n {
			return starts, true
		}
	}
	return starts, false
}

// ---------------------------------------------------------------------------
// Unit tests.

func TestParseCtrEvent(t *testing.T) {
	line := `{"status":"health_status: healthy","id":"abc123","from":"xo-demo:hc","Type":"container",` +
		`"Action":"health_status: healthy","Actor":{"ID":"abc123","Attributes":{"image":"xo-demo:hc",` +
		`"name":"webhc.2.t2","xo.service":"webhc","xo.task":"t2"}},"scope":"local","time":1700000000,` +
		`"timeNano":1700000000123456789}`
	e, err := parseCtrEvent(2, line)
	if err != nil {
		t.Fatal(err)
	}
	want := ctrEvent{Host: 2, Action: actHealthy, ID: "abc123", Name: "webhc.2.t2", Service: "webhc", Task: "t2",
		Image: "xo-demo:hc", Labels: map[string]string{"image": "xo-demo:hc", "name": "webhc.2.t2", "xo.service": "webhc", "xo.task": "t2"},
		At: time.Unix(0, 1700000000123456789)}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %+v, want %+v", e, want)
	}
	for _, bad := range []string{
		`not json`,
		`{"Type":"network","Action":"create","Actor":{"ID":"n1"},"timeNano":1}`,
		`{"Type":"container","Action":"start","Actor":{"ID":"c1"}}`,
	} {
		if _, err := parseCtrEvent(1, bad); err == nil {
			t.Errorf("%q: parsed without an error", bad)
		}
	}
}

// evAt builds an event ms milliseconds after t0.
func evAt(host int, action, id, svc, task string, msAfter int) ctrEvent {
	t0 := time.Unix(1700000000, 0)
	return ctrEvent{Host: host, Action: action, ID: id, Service: svc, Task: task,
		At: t0.Add(time.Duration(msAfter) * time.Millisecond)}
}

func TestReplacement(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	evs := []ctrEvent{
		evAt(2, actStart, "new", "web", "t9", 900), // arrival order differs from time order
		evAt(1, actDie, "old", "web", "t1", 100),
		evAt(3, actStart, "x", "other", "t5", 200),    // another service
		evAt(1, actStart, "old", "web", "t1", 50),     // before the death
		evAt(3, actStart, "hand", "web", "", 300),     // a hand-run member, no task
		evAt(2, actStart, "again", "web", "t1", 400),  // the dead task itself (a restart)
		evAt(3, actStart, "later", "web", "t8", 1200), // a later one
		evAt(2, actHealthy, "new", "web", "t9", 1500),
	}
	dieAt := t0.Add(100 * time.Millisecond)
	start, ready, ok := replacement(evs, "web", "t1", dieAt, false)
	if !ok || start.ID != "new" || ready.ID != "new" || !ready.At.Equal(start.At) {
		t.Fatalf("replacement: %+v %+v %v", start, ready, ok)
	}
	start, ready, ok = replacement(evs, "web", "t1", dieAt, true)
	if !ok || start.ID != "new" || ready.Action != actHealthy || ready.At.Sub(start.At) != 600*time.Millisecond {
		t.Fatalf("replacement, healthy: %+v %+v %v", start, ready, ok)
	}
	if _, _, ok := replacement(evs[1:6], "web", "t1", dieAt, false); ok {
		t.Fatal("found a replacement among events that hold none")
	}
	if _, _, ok := replacement(evs[:7], "web", "t1", dieAt, true); ok {
		t.Fatal("healthy before the health event")
	}
}

func TestReplacedAll(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	evs := []ctrEvent{
		evAt(3, actStart, "c1", "web", "a", 5000),
		evAt(2, actStart, "c0", "web", "z", -10), // before the kill
		evAt(1, actStart, "c2", "web", "b", 7000),
		evAt(3, actStart, "c3", "web", "a", 7500), // same task again: not a second replacement
		evAt(2, actStart, "c4", "web", "c", 8000), // on the dead host: not elsewhere
		evAt(1, actStart, "c5", "api", "d", 6000), // another service
		evAt(1, actStart, "c6", "web", "e", 9000),
	}
	starts, ok := replacedAll(evs, "web", 2, t0, 2)
	if !ok || len(starts) != 2 || starts[0].ID != "c1" || starts[1].ID != "c2" {
		t.Fatalf("replacedAll 2: %+v %v", starts, ok)
	}
	starts, ok = replacedAll(evs, "web", 2, t0, 3)
	if !ok || starts[2].ID != "c6" {
		t.Fatalf("replacedAll 3: %+v %v", starts, ok)
	}
	if starts, ok := replacedAll(evs, "web", 2, t0, 4); ok || len(starts) != 3 {
		t.Fatalf("replacedAll 4: %+v %v", starts, ok)
	}
}
