package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

// sampleSocket serves the sample cluster of apitest until the test ends.
func sampleSocket(t *testing.T) string {
	t.Helper()
	return apitest.Serve(t, apitest.Store(t), apitest.Info)
}

// deadSocket is a socket path nothing listens on.
func deadSocket(t *testing.T) string {
	return filepath.Join(t.TempDir(), "dead.sock")
}

// xo runs the CLI as main does against socket and returns its output and
// exit code.
func xo(t *testing.T, socket string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"--api-socket", socket}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestUnreachableAgent(t *testing.T) {
	socket := deadSocket(t)
	want := "Error: cannot reach the xo agent at " + socket +
		": is \"xo agent\" running? (set --api-socket or XO_API_SOCKET)\n"
	for _, args := range [][]string{
		{"network", "ls"},
		{"network", "inspect", "web"},
		{"info"},
	} {
		stdout, stderr, code := xo(t, socket, args...)
		if code != 1 || stderr != want || stdout != "" {
			t.Errorf("xo %v: code %d\nstdout %q\nstderr %q\nwant   %q", args, code, stdout, stderr, want)
		}
	}
}

func TestSocketFromEnv(t *testing.T) {
	socket := sampleSocket(t)
	t.Setenv("XO_API_SOCKET", socket)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"network", "ls", "-q"}, &out, &errOut); code != 0 {
		t.Fatalf("code %d: %s", code, errOut.String())
	}
	if out.String() == "" {
		t.Error("no output")
	}
}

func TestUsageErrors(t *testing.T) {
	socket := sampleSocket(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "inspect"}, "Error: requires at least 1 arg(s), only received 0\n"},
		{[]string{"network", "ls", "--bogus"}, "Error: unknown flag: --bogus\nSee 'xo network ls --help'.\n"},
		{[]string{"network", "frob"}, "Error: unknown command \"frob\" for \"xo network\"\nSee 'xo network --help'.\n"},
		{[]string{"--log-level", "loud", "info"}, "Error: invalid --log-level \"loud\": use debug, info, warn or error\n"},
		{[]string{"network", "ls", "--format", "{{.Name"}, ""},
	} {
		_, stderr, code := xo(t, socket, tc.args...)
		if code != 1 || (tc.want != "" && stderr != tc.want) || (tc.want == "" && stderr == "") {
			t.Errorf("xo %v: code %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
