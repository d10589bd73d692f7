package agent

import (
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

func TestQuorumAfter(t *testing.T) {
	m := func(id, status string) state.Node { return state.Node{ID: id, Role: state.RoleManager, Status: status} }
	w := func(id string) state.Node {
		return state.Node{ID: id, Role: state.RoleWorker, Status: state.StatusReady}
	}
	cases := []struct {
		name    string
		nodes   []state.Node
		id      string
		newRole string
		want    string // "" = allowed
	}{
		{"demote the only manager", []state.Node{m("a", "ready"), w("b")}, "a", state.RoleWorker, "last manager"},
		{"remove the only manager", []state.Node{m("a", "ready")}, "a", "", "last manager"},
		{"demote one of three, all up", []state.Node{m("a", "ready"), m("b", "ready"), m("c", "ready")}, "c", state.RoleWorker, ""},
		{"demote one of three, one down", []state.Node{m("a", "ready"), m("b", "down"), m("c", "ready")}, "c", state.RoleWorker, "below the quorum of 2"},
		{"remove the down one of three", []state.Node{m("a", "ready"), m("b", "down"), m("c", "ready")}, "b", "", ""},
		{"suspect still counts as reachable", []state.Node{m("a", "ready"), m("b", "suspect"), m("c", "ready")}, "c", state.RoleWorker, ""},
		{"promote is never refused here", []state.Node{m("a", "ready"), w("b")}, "b", state.RoleManager, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := quorumAfter(c.nodes, c.id, c.newRole, "demote")
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
