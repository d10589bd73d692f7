package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

func TestNetworkCreate(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 0, apitest.NetworkID("api")+"\n", "", "network", "create",
		"--subnet", "10.40.0.0/24", "--ip-range", "10.40.0.128/25", "--gateway", "10.40.0.1",
		"--aux-address", "router=10.40.0.2", "--aux-address", "dns=10.40.0.3", "-o", "xoverlay.mtu=1400", "api")
	check(t, socket, 0, "api 10.40.0.0/24 10.40.0.128/25 1\n", "",
		"network", "inspect", "-f", "{{.Name}} {{.Subnet}} {{.IPRange}} {{len .Hosts}}", "api")
	check(t, socket, 1, "", "Error: subnet 10.40.0.0/25 overlaps subnet 10.40.0.0/24 of network api; "+
		"choose a --subnet that does not overlap\n", "network", "create", "--subnet", "10.40.0.0/25", "api2")
	want := []string{
		"NetworkCreate {Name:api Subnet:10.40.0.0/24 IPRange:10.40.0.128/25 Gateway:10.40.0.1 " +
			"AuxAddresses:map[dns:10.40.0.3 router:10.40.0.2] Options:map[xoverlay.mtu:1400]}",
		"NetworkCreate {Name:api2 Subnet:10.40.0.0/25 IPRange: Gateway: AuxAddresses:map[] Options:map[]}",
	}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s", strings.Join(got, "\n"))
	}
}

func TestNetworkCreateUsage(t *testing.T) {
	socket, ops := opsSocket(t)
	see := "\nSee 'xo network create --help'.\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--aux-address", "router", "n"}, `Error: invalid --aux-address "router": want KEY=VALUE` + see},
		{[]string{"--aux-address", "r=10.0.0.300", "n"}, `Error: invalid --aux-address "r=10.0.0.300": "10.0.0.300" is not an IP address` + see},
		{[]string{"-o", "mtu", "n"}, `Error: invalid --opt "mtu": want KEY=VALUE` + see},
		{[]string{"--gateway", "gw", "n"}, `Error: invalid --gateway: "gw" is not an IP address` + see},
		{[]string{}, "Error: accepts 1 arg(s), received 0\n"},
	} {
		check(t, socket, 1, "", tc.want, append([]string{"network", "create"}, tc.args...)...)
	}
	if calls := ops.Calls(); len(calls) != 0 {
		t.Errorf("calls = %q, want none", calls)
	}
}

func TestNetworkRm(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 0, apitest.NetworkID("api")+"\n", "", "network", "create", "api")
	check(t, socket, 1, "", "Error: no such network: api2\n", "network", "remove", "api2")
	check(t, socket, 1, "api\n"+apitest.PendingID[:5]+"\n",
		"Error: network web still has endpoints on alpha (web-1), bravo (web-2, web-3); remove those containers first\n"+
			"no such network: nope\n"+
			"network ID prefix \"3f\" is ambiguous: it matches "+apitest.DBID[:12]+" (db), "+apitest.WebID[:12]+" (web); use a longer prefix\n",
		"network", "rm", "web", "api", "nope", "3f", apitest.PendingID[:5])
	want := []string{
		"NetworkCreate {Name:api Subnet: IPRange: Gateway: AuxAddresses:map[] Options:map[]}",
		"NetworkRemove " + apitest.WebID, "NetworkRemove " + apitest.NetworkID("api"), "NetworkRemove " + apitest.PendingID,
	}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s", strings.Join(got, "\n"))
	}
}

func TestNetworkErrorsShown(t *testing.T) {
	socket, _ := opsSocket(t)
	stdout, stderr, code := xo(t, socket, "network", "inspect", "web")
	if code != 0 || !strings.Contains(stdout, "\"errors\": {\n            \"charlie\": \"plugin \\\"xoverlay\\\" not found\"\n        }") {
		t.Errorf("code %d, stderr %q\n%s", code, stderr, stdout)
	}
	if _, _, code := xo(t, socket, "network", "rm", "db"); code == 0 {
		t.Fatal("db has an endpoint: removed")
	}
	if _, _, code := xo(t, socket, "network", "rm", apitest.PendingID); code != 0 {
		t.Fatal("rm pending failed")
	}
	stdout, _, _ = xo(t, socket, "network", "ls", "--format", "json")
	var nets []api.Network
	if err := json.Unmarshal([]byte(stdout), &nets); err != nil {
		t.Fatal(err)
	}
	if !nets[0].Deleting || nets[2].Errors["charlie"] != apitest.WebError {
		t.Errorf("networks = %+v", nets)
	}
	check(t, socket, 0, "7c1e5a9b3d7f true\n3fb2d4e6f8a0 false\n3f9a1c0e7b2d false\n", "",
		"network", "ls", "-f", "{{.ShortID}} {{.Deleting}}")
}
