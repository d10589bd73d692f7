package executor

import (
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// A task made before an update, whose container did not exist yet when
// the update came, runs the spec it was made from: an old task keeps the
// old image while the new ones run the new.
func TestOutdatedTaskRunsItsOwnSpec(t *testing.T) {
	f := newFixture(t, webSpec())
	f.eng.images["xo-demo:v2"] = true
	f.assign("old", 1, "n1")
	v2 := webSpec()
	v2.Image = "xo-demo:v2"
	f.propose(state.UpdateService{ID: "s1", Spec: v2, At: t0})
	f.assign("new", 2, "n1")
	f.converge()
	f.status("old", state.TaskRunning, "")
	f.status("new", state.TaskRunning, "")
	for name, want := range map[string]string{"web.1.old": "xo-demo:v1", "web.2.new": "xo-demo:v2"} {
		if c := f.eng.find(name); c == nil || c.cfg.Image != want {
			t.Fatalf("container %s: %+v, want image %s", name, c, want)
		}
	}
}
