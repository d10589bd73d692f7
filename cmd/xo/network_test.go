package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

func TestNetworkLsTable(t *testing.T) {
	stdout, stderr, code := xo(t, sampleSocket(t), "network", "ls")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	want := "" +
		"NETWORK ID     NAME      VNI    SUBNET         GATEWAY     HOSTS   ENDPOINTS\n" +
		"7c1e5a9b3d7f   -         -      10.30.0.0/24   -           0       0\n" +
		"3fb2d4e6f8a0   db        4097   10.20.0.0/24   10.20.0.1   1       1\n" +
		"3f9a1c0e7b2d   web (!)   4096   10.10.0.0/24   10.10.0.1   2       3\n"
	if stdout != want {
		t.Errorf("table:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestNetworkLsFormats(t *testing.T) {
	socket := sampleSocket(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "ls", "-q"}, "7c1e5a9b3d7f\n3fb2d4e6f8a0\n3f9a1c0e7b2d\n"},
		{[]string{"network", "list", "--quiet", "--no-trunc"}, apitest.PendingID + "\n" + apitest.DBID + "\n" + apitest.WebID + "\n"},
		{[]string{"network", "ls", "--format", "{{.Name}}"}, "\ndb\nweb\n"},
		{[]string{"network", "ls", "--format", `{{.ShortID}}\t{{.VNI}} {{len .Hosts}} {{.EndpointCount}}`},
			"7c1e5a9b3d7f\t0 0 0\n3fb2d4e6f8a0\t4097 1 1\n3f9a1c0e7b2d\t4096 2 3\n"},
		{[]string{"network", "ls", "-f", "{{upper .Name}} {{json .Options}}"}, " null\nDB null\nWEB {\"xoverlay.mtu\":\"1450\"}\n"},
	} {
		stdout, stderr, code := xo(t, socket, tc.args...)
		if code != 0 || stdout != tc.want {
			t.Errorf("xo %v: code %d, stderr %q\nstdout %q\nwant   %q", tc.args, code, stderr, stdout, tc.want)
		}
	}
}

func TestNetworkLsJSON(t *testing.T) {
	stdout, stderr, code := xo(t, sampleSocket(t), "network", "ls", "--format", "json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	var nets []api.Network
	if err := json.Unmarshal([]byte(stdout), &nets); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, stdout)
	}
	if len(nets) != 3 || nets[2].Name != "web" || nets[2].Hosts[0].Hostname != "alpha" {
		t.Errorf("networks = %+v", nets)
	}
}

func TestNetworkInspect(t *testing.T) {
	socket := sampleSocket(t)
	for _, args := range [][]string{
		{"network", "inspect", "web", "3fb", apitest.PendingID},
		{"network", "inspect", "--format", "json", "web", "3fb", apitest.PendingID},
	} {
		stdout, stderr, code := xo(t, socket, args...)
		if code != 0 {
			t.Fatalf("xo %v: code %d: %s", args, code, stderr)
		}
		if !strings.HasPrefix(stdout, "[\n    {\n        \"id\": \""+apitest.WebID+"\",\n") {
			t.Errorf("xo %v: not docker-style indented JSON:\n%s", args, stdout)
		}
		var nets []api.Network
		if err := json.Unmarshal([]byte(stdout), &nets); err != nil {
			t.Fatal(err)
		}
		if len(nets) != 3 || nets[0].ID != apitest.WebID || nets[1].ID != apitest.DBID || nets[2].ID != apitest.PendingID {
			t.Errorf("xo %v: %+v", args, nets)
		}
		if len(nets[2].Hosts) != 0 || !strings.Contains(stdout, `"hosts": []`) {
			t.Errorf("pending network hosts: %+v", nets[2].Hosts)
		}
	}
}

func TestNetworkInspectTemplate(t *testing.T) {
	tmpl := `{{.Name}}:{{range .Hosts}} {{.Hostname}}={{range $i, $e := .Endpoints}}{{if $i}},{{end}}{{$e.IP}}{{end}}{{end}}`
	stdout, stderr, code := xo(t, sampleSocket(t), "network", "inspect", "-f", tmpl, "web", "db")
	want := "web: alpha=10.10.0.18 bravo=10.10.0.9,10.10.0.10\ndb: " + apitest.GhostNode + "=10.20.0.5\n"
	if code != 0 || stdout != want {
		t.Errorf("code %d, stderr %q\nstdout %q\nwant   %q", code, stderr, stdout, want)
	}
}

func TestNetworkInspectMissing(t *testing.T) {
	socket := sampleSocket(t)
	stdout, stderr, code := xo(t, socket, "network", "inspect", "-f", "{{.Name}}", "nope", "web", "gone")
	if code != 1 || stdout != "web\n" || stderr != "Error: no such network: nope\nno such network: gone\n" {
		t.Errorf("code %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = xo(t, socket, "network", "inspect", "nope")
	if code != 1 || stdout != "[]\n" || stderr != "Error: no such network: nope\n" {
		t.Errorf("code %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	_, stderr, code = xo(t, socket, "network", "inspect", "3f")
	if code != 1 || !strings.Contains(stderr, `Error: network ID prefix "3f" is ambiguous`) {
		t.Errorf("ambiguous prefix: code %d, stderr %q", code, stderr)
	}
}
