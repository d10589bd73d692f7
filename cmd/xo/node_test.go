package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

func TestNodeLs(t *testing.T) {
	socket, _ := opsSocket(t)
	check(t, socket, 0, ""+
		"ID          HOSTNAME   STATUS   AVAILABILITY   MANAGER STATUS   ENGINE VERSION\n"+
		"zz-node *   alpha      Ready    Active         Leader           27.3.1\n"+
		"aa-node     bravo      Down     Active         Unreachable      27.3.1\n"+
		"cc-idle     charlie    Ready    Drain                           26.1.4\n",
		"", "node", "ls")
	check(t, socket, 0, "zz-node\naa-node\ncc-idle\n", "", "node", "list", "-q")
	check(t, socket, 0, "alpha manager Leader map[zone:a]\nbravo manager Unreachable map[]\ncharlie worker  map[]\n", "",
		"node", "ls", "--format", "{{.Hostname}} {{.Role}} {{.ManagerStatus}} {{.Labels}}")
	check(t, socket, 0, "alpha:true\nbravo:false\ncharlie:false\n", "", "node", "ls", "-f", `{{.Hostname}}:{{.Self}}`)

	stdout, stderr, code := xo(t, socket, "node", "ls", "--format", "json")
	var nodes []api.Node
	if err := json.Unmarshal([]byte(stdout), &nodes); err != nil || code != 0 {
		t.Fatalf("code %d, %v: %s%s", code, err, stdout, stderr)
	}
	if len(nodes) != 3 || nodes[1].StatusMsg != "no heartbeat for 30s" || !strings.Contains(stdout, `"manager_status": "Leader"`) {
		t.Errorf("json: %s", stdout)
	}
	_, stderr, code = xo(t, socket, "node", "ls", "--format", "{{.Nope}}")
	if code != 1 || !strings.Contains(stderr, "can't evaluate field Nope") {
		t.Errorf("bad template field: code %d, %q", code, stderr)
	}
}

func TestNodeInspect(t *testing.T) {
	socket, _ := opsSocket(t)
	want := `[
    {
        "id": "cc-idle",
        "hostname": "charlie",
        "addr": "10.0.0.3",
        "raft_addr": "10.0.0.3:2378",
        "role": "worker",
        "availability": "drain",
        "status": "ready",
        "labels": {},
        "capabilities": {
            "kernel": "6.8.0",
            "engine": "26.1.4",
            "ipvs": true,
            "nftables": false
        },
        "joined_at": "2025-03-01T12:00:00Z",
        "self": false
    }
]
`
	check(t, socket, 0, want, "", "node", "inspect", "charlie")
	check(t, socket, 1, want, "Error: no such node: nope\n", "node", "inspect", "cc-", "nope")
	check(t, socket, 0, "alpha Leader a\nbravo Unreachable \n", "",
		"node", "inspect", "-f", `{{.Hostname}} {{.ManagerStatus}} {{index .Labels "zone"}}`, "alpha", apitest.BravoNode)
	check(t, socket, 1, "[]\n", "Error: no such node: x\nno such node: y\n", "node", "inspect", "x", "y")
}

func TestNodeUpdate(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 0, "charlie\n", "", "node", "update",
		"--label-add", "gpu=yes", "--label-add", "rack=r1=a", "--label-add", "empty=", "--availability", "active", "charlie")
	check(t, socket, 0, "alpha\n", "", "node", "update", "--label-rm", "zone", "--availability", "drain", "alpha")
	check(t, socket, 0, "active empty= gpu=yes rack=r1=a \n", "",
		"node", "inspect", "-f", "{{.Availability}} {{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}", "charlie")
	check(t, socket, 0, "drain map[]\n", "", "node", "inspect", "-f", "{{.Availability}} {{.Labels}}", "alpha")
	check(t, socket, 1, "", "Error: no such node: nope\n", "node", "update", "--availability", "drain", "nope")
	want := []string{
		"NodeUpdate cc-idle {LabelsAdd:map[empty: gpu:yes rack:r1=a] LabelsRm:[] Availability:active}",
		"NodeUpdate zz-node {LabelsAdd:map[] LabelsRm:[zone] Availability:drain}",
	}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s", strings.Join(got, "\n"))
	}
}

func TestNodeUpdateUsage(t *testing.T) {
	socket, ops := opsSocket(t)
	see := "\nSee 'xo node update --help'.\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--label-add", "foo", "charlie"}, `Error: invalid --label-add "foo": want KEY=VALUE` + see},
		{[]string{"--label-add", "=v", "charlie"}, `Error: invalid --label-add "=v": want KEY=VALUE` + see},
		{[]string{"--label-rm", "a=b", "charlie"}, `Error: invalid --label-rm "a=b": want a label KEY` + see},
		{[]string{"--availability", "pause", "charlie"}, `Error: invalid --availability "pause": use active or drain` + see},
		{[]string{"charlie"}, "Error: nothing to update: give --label-add, --label-rm or --availability" + see},
		{[]string{"--availability", "drain"}, "Error: accepts 1 arg(s), received 0\n"},
	} {
		check(t, socket, 1, "", tc.want, append([]string{"node", "update"}, tc.args...)...)
	}
	if calls := ops.Calls(); len(calls) != 0 {
		t.Errorf("calls = %q, want none", calls)
	}
}

func TestNodeRoles(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 1, "Node charlie promoted to a manager in the cluster.\n", "Error: no such node: nope\n",
		"node", "promote", "charlie", "nope")
	check(t, socket, 0, "Manager alpha demoted to a worker in the cluster.\n", "", "node", "demote", "alpha")
	check(t, socket, 0, "alpha worker\nbravo manager\ncharlie manager\n", "", "node", "ls", "-f", "{{.Hostname}} {{.Role}}")
	want := "NodeSetRole cc-idle manager,NodeSetRole zz-node worker"
	if got := strings.Join(ops.Calls(), ","); got != want {
		t.Errorf("calls = %s", got)
	}
}

func TestNodeRm(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 1, "bravo\n",
		"Error: node cc-idle is ready; drain and stop it first, or use --force\nno such node: nope\n",
		"node", "rm", "charlie", "bravo", "nope")
	check(t, socket, 0, "cc-idle\n", "", "node", "remove", "--force", "cc-idle")
	check(t, socket, 0, "zz-node\n", "", "node", "ls", "-q")
	want := "NodeRemove cc-idle false,NodeRemove aa-node false,NodeRemove cc-idle true"
	if got := strings.Join(ops.Calls(), ","); got != want {
		t.Errorf("calls = %s", got)
	}
}

func TestNodeRetriesWhileNoLeader(t *testing.T) {
	socket, ops := opsSocket(t)
	ops.Fail("NodeSetRole", apitest.Unavailable())
	check(t, socket, 0, "Node charlie promoted to a manager in the cluster.\n", "", "node", "promote", "charlie")
	if n := len(ops.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

func TestNodeUnreachable(t *testing.T) {
	socket := deadSocket(t)
	want := "Error: cannot reach the xo agent at " + socket +
		": is \"xo agent\" running? (set --api-socket or XO_API_SOCKET)\n"
	for _, args := range [][]string{
		{"node", "ls"}, {"node", "rm", "a", "b"}, {"node", "inspect", "a", "b"}, {"cluster", "token", "worker"},
		{"network", "rm", "a", "b"}, {"network", "create", "a"},
	} {
		check(t, socket, 1, "", want, args...)
	}
}
