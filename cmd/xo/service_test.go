package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// serviceSocket serves the sample cluster with its services and a fake
// Ops until the test ends; "now" is 10 seconds after the services began.
func serviceSocket(t *testing.T) (string, *apitest.Ops) {
	t.Helper()
	s := apitest.Store(t)
	apitest.Services(t, s)
	ops := apitest.NewOps(s)
	old := now
	now = func() time.Time { return apitest.Created.Add(time.Hour + 10*time.Second) }
	t.Cleanup(func() { now = old })
	return apitest.ServeOps(t, s, apitest.Info, ops), ops
}

var (
	apiID    = apitest.ServiceID("api")
	monID    = apitest.ServiceID("mon")
	legacyID = apitest.LegacyID
)

func TestServiceCreateCmd(t *testing.T) {
	socket, ops := serviceSocket(t)
	check(t, socket, 0, apitest.ServiceID("web")+"\n", "", "service", "create", "--name", "web", "--replicas", "2",
		"--network", "web,alias=www", "-p", "8081:80", "--reserve-memory", "64m", "-q", "-d", "demoapp", "-listen", ":80")
	want := `ServiceCreate {"name":"web","image":"demoapp","args":["-listen",":80"],"mode":"replicated","replicas":2,` +
		`"networks":[{"target":"` + apitest.WebID + `","aliases":["www"]}],"resources":{"reservations":{"memory_bytes":67108864}},` +
		`"restart_policy":{"condition":"any"},"endpoint_mode":"vip","ports":[{"target":80,"published":8081,"protocol":"tcp","mode":"ingress"}]}`
	if calls := ops.Calls(); len(calls) != 1 || calls[0] != want {
		t.Errorf("calls = %q\nwant %q", calls, want)
	}
	check(t, socket, 0, "web replicated 0/2 demoapp\n", "",
		"service", "ls", "--filter", "name=we", "--format", "{{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}")
	// Refused by the agent: the messages name the flags, nothing is stored.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "x", "--network", "nope", "img"}, "Error: --network nope: no such xoverlay network; " +
			"create it first with docker network create -d xoverlay --ipam-driver xoverlay nope\n"},
		{[]string{"--name", "api", "img"}, "Error: service api already exists; scale it with xo service scale api=N, " +
			"remove it with xo service rm api, or choose another --name\n"},
		{[]string{"--name", "x", "--constraint", "node.labels.ssd=true", "--mode", "global", "--replicas", "3", "img"},
			"Error: --replicas: only for --mode replicated, a global service runs one task per node; " +
				"--constraint \"node.labels.ssd=true\": want KEY==VALUE or KEY!=VALUE\n"},
		{[]string{"--name", "x", "--limit-memory", "1m", "--restart-condition", "always", "img"},
			"Error: --limit-memory 1MiB: the minimum is 6MiB; --restart-condition \"always\": want any, on-failure or none\n"},
		{[]string{"img"}, "Error: --name: required\n"},
		{[]string{"--name", "x", "--limit-memory", "lots", "img"},
			"Error: invalid argument \"lots\" for \"--limit-memory\" flag: invalid size: 'lots'\nSee 'xo service create --help'.\n"},
	} {
		check(t, socket, 1, "", tc.want, append([]string{"service", "create"}, tc.args...)...)
	}
	if n := len(ops.Calls()); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

func TestServiceLs(t *testing.T) {
	socket, _ := serviceSocket(t)
	check(t, socket, 0, ""+
		"ID             NAME     MODE         REPLICAS   IMAGE                PORTS\n"+
		apiID[:12]+"   api      replicated   1/3        nginx:1.27           *:8080->80/tcp\n"+
		legacyID[:12]+"   legacy   external     1/2        -                    \n"+
		monID[:12]+"   mon      global       1/1        prom/node-exporter   \n",
		"", "service", "ls")
	check(t, socket, 0, apiID[:12]+"\n"+legacyID[:12]+"\n"+monID[:12]+"\n", "", "service", "list", "-q")
	check(t, socket, 0, "api 1 3\nmon 1 1\n", "", "service", "ls", "-f", "mode=replicated", "--filter", "mode=global",
		"--format", "{{.Name}} {{.Replicas.Running}} {{.Replicas.Desired}}")
	check(t, socket, 0, "mon\n", "", "service", "ls", "-f", "name=m", "-f", "id="+monID[:4], "--format", "{{.Name}}")
	check(t, socket, 0, "", "", "service", "ls", "-f", "label=team", "-q")
	check(t, socket, 1, "", "Error: invalid filter key \"color\": want name, id, mode, label\nSee 'xo service ls --help'.\n",
		"service", "ls", "-f", "color=red")
	check(t, socket, 1, "", "Error: invalid filter \"{{.Name}}\": want KEY=VALUE\nSee 'xo service ls --help'.\n",
		"service", "ls", "-f", "{{.Name}}")
	stdout, _, code := xo(t, socket, "service", "ls", "--format", "json")
	var svcs []api.Service
	if err := json.Unmarshal([]byte(stdout), &svcs); err != nil || code != 0 || len(svcs) != 3 || svcs[0].Spec.Replicas != 3 {
		t.Errorf("json: %v\n%s", err, stdout)
	}
}

func TestServicePs(t *testing.T) {
	socket, _ := serviceSocket(t)
	check(t, socket, 0, ""+
		"ID             NAME          IMAGE                NODE    DESIRED STATE   CURRENT STATE           ERROR\n"+
		"tk1a11111111   api.1         nginx:1.27           alpha   Running         Running 4 seconds ago   \n"+
		"tk1a00000000    \\_ api.1     nginx:1.27           alpha   Shutdown        Failed 6 seconds ago    \"task: non-zero exit (3)\"\n"+
		"tk2b22222222   api.2         nginx:1.27           bravo   Running         Running 7 seconds ago   \n"+
		"tk3c33333333   api.3         nginx:1.27                   Running         Pending 8 seconds ago   \"no suitable node: 1 node down…\"\n"+
		"tkm000000000   mon.zz-node   prom/node-exporter   alpha   Running         Running 7 seconds ago   \n",
		"", "service", "ps", "api", "mon")
	check(t, socket, 0, apitest.TaskAPI1+"\n"+apitest.TaskAPI2+"\n"+apitest.TaskAPI3+"\n", "",
		"service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", "api")
	check(t, socket, 0, "tk1a00000000\n", "", "service", "ps", "-q", "-f", "desired-state=shutdown", "api")
	check(t, socket, 0, "api.2 aa-node running\n", "", "service", "ps", "-f", "node=bravo", "--format",
		"{{.SlotName}} {{.NodeID}} {{.State}}", "api")
	stdout, _, _ := xo(t, socket, "service", "ps", "--no-trunc", "--no-resolve", "-f", "name=api.3", "api")
	if !strings.Contains(stdout, `"`+apitest.PendingErr+`"`) || !strings.Contains(stdout, apitest.TaskAPI3) {
		t.Errorf("--no-trunc:\n%s", stdout)
	}
	check(t, socket, 1, "tkm000000000\n", "Error: no such service: nope\n", "service", "ps", "-q", "nope", "mon")
	check(t, socket, 1, "", "Error: invalid filter key \"desired\": want desired-state, id, name, node\nSee 'xo service ps --help'.\n",
		"service", "ps", "-f", "desired=running", "api")
}

func TestServiceInspect(t *testing.T) {
	socket, _ := serviceSocket(t)
	stdout, stderr, code := xo(t, socket, "service", "inspect", "mon", "nope")
	var svcs []api.Service
	if err := json.Unmarshal([]byte(stdout), &svcs); err != nil || code != 1 || len(svcs) != 1 || stderr != "Error: no such service: nope\n" {
		t.Fatalf("inspect: %v, code %d\n%s%s", err, code, stdout, stderr)
	}
	if s := svcs[0]; s.ID != monID || s.Mode != "global" || s.Spec.Constraints[0] != "node.role==manager" || s.Version != 1 {
		t.Errorf("mon = %+v", s)
	}
	check(t, socket, 0, "api 3 "+apitest.WebID+"\n", "", "service", "inspect", "-f", "{{.Name}} {{.Spec.Replicas}} {{(index .Spec.Networks 0).Target}}", apiID[:5])
	check(t, socket, 0, ""+
		"ID:           "+apiID+"\n"+
		"Name:         api\n"+
		"Service Mode: Replicated\n"+
		" Replicas:    3\n"+
		"RestartPolicy:\n"+
		" Condition:    any\n"+
		" Delay:        0s\n"+
		" Max Attempts: 0\n"+
		" Window:       0s\n"+
		"ContainerSpec:\n"+
		" Image: nginx:1.27\n"+
		"Resources:\n"+
		" Reservations:\n"+
		"  Memory:      1GiB\n"+
		"Networks:      web (aliases: www)\n"+
		"Endpoint Mode: vip\n"+
		"Ports:\n"+
		" PublishedPort = 8080\n"+
		"  Protocol = tcp\n"+
		"  TargetPort = 80\n"+
		"  PublishMode = ingress\n"+
		"\n"+
		"ID:           "+legacyID+"\n"+
		"Name:         legacy\n"+
		"Service Mode: External\n"+
		"Members:      1/2 in service\n",
		"", "service", "inspect", "--pretty", "api", "legacy")
	check(t, socket, 1, "", "Error: --format and --pretty cannot be combined\nSee 'xo service inspect --help'.\n",
		"service", "inspect", "--pretty", "-f", "{{.ID}}", "api")
}

func TestServiceScale(t *testing.T) {
	socket, ops := serviceSocket(t)
	// A change by someone else between the read and the write: read again.
	ops.Fail("ServiceUpdate", fmt.Errorf("%w: service api changed since version 1 (it is at version 2)", state.ErrConflict))
	check(t, socket, 1, "api scaled to 5\n",
		"Error: mon: scale can only be used with replicated mode\n"+
			"legacy: service legacy is external: its tasks are containers run by hand with --label xo.service=legacy\n"+
			"no such service: nope\n",
		"service", "scale", "-d", "api=5", "mon=2", "legacy=1", "nope=1")
	check(t, socket, 0, "5 2\n", "", "service", "inspect", "-f", "{{.Spec.Replicas}} {{.Version}}", "api")
	want := []string{"ServiceUpdate " + apiID + " 1 5", "ServiceUpdate " + apiID + " 1 5"}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s", strings.Join(got, "\n"))
	}
	see := "\nSee 'xo service scale --help'.\n"
	check(t, socket, 1, "", "Error: invalid scale specifier \"api\": want SERVICE=REPLICAS"+see, "service", "scale", "api")
	check(t, socket, 1, "", "Error: invalid replicas value \"-1\" for api: want a number from 0"+see, "service", "scale", "api=-1")
}

func TestServiceRm(t *testing.T) {
	socket, ops := serviceSocket(t)
	check(t, socket, 1, "mon\n", "Error: no such service: nope\n", "service", "rm", "mon", "nope")
	check(t, socket, 0, "api\nlegacy\n", "", "service", "ls", "--format", "{{.Name}}")
	if got := strings.Join(ops.Calls(), ","); got != "ServiceRemove "+monID {
		t.Errorf("calls = %s", got)
	}
}

func TestServiceUnreachable(t *testing.T) {
	socket := deadSocket(t)
	want := "Error: cannot reach the xo agent at " + socket +
		": is \"xo agent\" running? (set --api-socket or XO_API_SOCKET)\n"
	for _, args := range [][]string{
		{"service", "ls"}, {"service", "ps", "a", "b"}, {"service", "inspect", "a", "b"}, {"service", "rm", "a", "b"},
		{"service", "scale", "a=1", "b=2"}, {"service", "create", "--name", "a", "img"}, {"service", "logs", "a"},
	} {
		check(t, socket, 1, "", want, args...)
	}
}
