package main

import (
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

// opsSocket serves the sample cluster with a fake Ops until the test ends.
func opsSocket(t *testing.T) (string, *apitest.Ops) {
	t.Helper()
	s := apitest.Store(t)
	ops := apitest.NewOps(s)
	return apitest.ServeOps(t, s, apitest.Info, ops), ops
}

// check runs xo and compares its exit code and output.
func check(t *testing.T, socket string, wantCode int, wantOut, wantErr string, args ...string) {
	t.Helper()
	stdout, stderr, code := xo(t, socket, args...)
	if code != wantCode || stdout != wantOut || stderr != wantErr {
		t.Errorf("xo %s: code %d, want %d\nstdout %q\nwant   %q\nstderr %q\nwant   %q",
			strings.Join(args, " "), code, wantCode, stdout, wantOut, stderr, wantErr)
	}
}

func TestClusterInit(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 0, `Cluster initialized: this node (zz-node) is now a manager.

To add a worker to this cluster, run the following command on it:

    xo cluster join --token XOTKN-1-worker 10.0.0.1:2378

To add a manager to this cluster, run 'xo cluster token manager' and follow the instructions.
`, "", "cluster", "init", "--advertise-addr", "10.0.0.1")
	check(t, socket, 1, "", "Error: --advertise-addr: invalid address \"10.0.0.1:x\": port \"x\" is not a number from 1 to 65535; "+
		"want HOST or HOST:PORT, such as 10.0.0.1, manager-1 or 10.0.0.1:2378\nSee 'xo cluster init --help'.\n",
		"cluster", "init", "--advertise-addr", "10.0.0.1:x")
	if calls := ops.Calls(); len(calls) != 1 || calls[0] != "ClusterInit {AdvertiseAddr:10.0.0.1}" {
		t.Errorf("calls = %q", calls)
	}
}

func TestClusterJoin(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 0, "This node joined the cluster as a worker.\n", "",
		"cluster", "join", "--token", apitest.WorkerToken, "10.0.0.1")
	check(t, socket, 0, "This node joined the cluster as a manager.\n", "",
		"cluster", "join", "--token", apitest.ManagerToken, "--advertise-addr", "10.0.0.9", "manager-1.example.com:4000")
	check(t, socket, 0, "This node joined the cluster as a worker.\n", "",
		"cluster", "join", "--token", apitest.WorkerToken, "fd00::1")
	check(t, socket, 0, "This node joined the cluster as a worker.\n", "",
		"cluster", "join", "--token", apitest.WorkerToken, "[fd00::2]:9")
	check(t, socket, 1, "", "Error: invalid join token\n", "cluster", "join", "--token", "XOTKN-9-x", "10.0.0.1")
	want := []string{
		"ClusterJoin {Token:XOTKN-1-worker RemoteAddr:10.0.0.1:2378 AdvertiseAddr:}",
		"ClusterJoin {Token:XOTKN-1-manager RemoteAddr:manager-1.example.com:4000 AdvertiseAddr:10.0.0.9}",
		"ClusterJoin {Token:XOTKN-1-worker RemoteAddr:[fd00::1]:2378 AdvertiseAddr:}",
		"ClusterJoin {Token:XOTKN-1-worker RemoteAddr:[fd00::2]:9 AdvertiseAddr:}",
		"ClusterJoin {Token:XOTKN-9-x RemoteAddr:10.0.0.1:2378 AdvertiseAddr:}",
	}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClusterJoinUsage(t *testing.T) {
	socket, ops := opsSocket(t)
	form := "want HOST or HOST:PORT, such as 10.0.0.1, manager-1 or 10.0.0.1:2378\nSee 'xo cluster join --help'.\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"10.0.0.1"}, "Error: --token is required: print it with 'xo cluster token worker' on a manager\nSee 'xo cluster join --help'.\n"},
		{[]string{"--token", "t", "bad_host"}, `Error: invalid address "bad_host": ` + form},
		{[]string{"--token", "t", "host:"}, `Error: invalid address "host:": empty port; ` + form},
		{[]string{"--token", "t", "host:70000"}, `Error: invalid address "host:70000": port "70000" is not a number from 1 to 65535; ` + form},
		{[]string{"--token", "t", "-bad-.example"}, ""},
		{[]string{"--token", "t", "--advertise-addr", "a b", "h"}, `Error: --advertise-addr: invalid address "a b": ` + form},
		{[]string{"--token", "t"}, "Error: accepts 1 arg(s), received 0\n"},
	} {
		args := append([]string{"cluster", "join"}, tc.args...)
		stdout, stderr, code := xo(t, socket, args...)
		if code != 1 || stdout != "" || (tc.want != "" && stderr != tc.want) || stderr == "" {
			t.Errorf("xo %v: code %d\nstderr %q\nwant   %q", args, code, stderr, tc.want)
		}
	}
	if calls := ops.Calls(); len(calls) != 0 {
		t.Errorf("calls = %q, want none", calls)
	}
}

func TestClusterToken(t *testing.T) {
	socket, ops := opsSocket(t)
	check(t, socket, 0, `To add a worker to this cluster, run the following command:

    xo cluster join --token XOTKN-1-worker 10.0.0.1:2378
`, "", "cluster", "token", "worker")
	check(t, socket, 0, "XOTKN-1-manager\n", "", "cluster", "token", "-q", "manager")
	check(t, socket, 0, `Successfully rotated manager join token.

To add a manager to this cluster, run the following command:

    xo cluster join --token XOTKN-2-manager 10.0.0.1:2378
`, "", "cluster", "token", "manager", "--rotate")
	check(t, socket, 0, "XOTKN-2-worker\n", "", "cluster", "token", "--rotate", "--quiet", "worker")
	check(t, socket, 1, "", "Error: unknown role \"admin\": use worker or manager\nSee 'xo cluster token --help'.\n",
		"cluster", "token", "admin")
	want := "ClusterToken worker false,ClusterToken manager false,ClusterToken manager true,ClusterToken worker true"
	if got := strings.Join(ops.Calls(), ","); got != want {
		t.Errorf("calls = %s", got)
	}
}

func TestClusterWithoutOps(t *testing.T) {
	check(t, sampleSocket(t), 1, "", "Error: this agent does not accept cluster changes through its API\n", "cluster", "init")
}

func TestSplitAddr(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":        "10.0.0.1:2378",
		"10.0.0.1:1":      "10.0.0.1:1",
		"manager-1":       "manager-1:2378",
		"m1.example.com.": "m1.example.com.:2378",
		"fd00::1":         "[fd00::1]:2378",
		"[fd00::1]":       "[fd00::1]:2378",
		"[fd00::1]:65535": "[fd00::1]:65535",
	} {
		if got, err := joinAddr(in); err != nil || got != want {
			t.Errorf("joinAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":2378", "a..b", "under_score", "h:0", "h:-1", "[fd00::1]:", "x:y:z", strings.Repeat("a", 64)} {
		if got, err := joinAddr(in); err == nil {
			t.Errorf("joinAddr(%q) = %q, want an error", in, got)
		}
	}
}
