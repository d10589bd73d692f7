package main

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

// servicesSocket serves the sample cluster with its services: legacy's
// container web-1 (10.10.0.18 on network web) is in service.
func servicesSocket(t *testing.T) string {
	t.Helper()
	s := apitest.Store(t)
	apitest.Services(t, s)
	return apitest.Serve(t, s, apitest.Info)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileContent(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTemplateOnce(t *testing.T) {
	socket := servicesSocket(t)
	t.Chdir(t.TempDir())
	writeFile(t, "in.tmpl", `{{ range service "legacy" "web" }}server {{ .Address }}:80; # {{ .Name }} on {{ .Node }}{{ end }}`)
	args := []string{"template", "--once", "--template", "in.tmpl:out.conf", "--exec", "touch reloaded"}
	if _, stderr, code := xo(t, socket, args...); code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	if got := fileContent(t, "out.conf"); got != "server 10.10.0.18:80; # web-1 on alpha" {
		t.Fatalf("out.conf = %q", got)
	}
	if _, err := os.Stat("reloaded"); err != nil {
		t.Fatalf("--exec did not run: %v", err)
	}
	// Nothing changed: no write, no command.
	if err := os.Remove("reloaded"); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := xo(t, socket, args...); code != 0 {
		t.Fatalf("code %d: %s", code, stderr)
	}
	if _, err := os.Stat("reloaded"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("--exec ran for an unchanged file: %v", err)
	}
}

func TestTemplateOnceDry(t *testing.T) {
	socket := servicesSocket(t)
	t.Chdir(t.TempDir())
	writeFile(t, "in.tmpl", `{{ join "," (service "legacy") }}`)
	stdout, stderr, code := xo(t, socket, "template", "--once", "--dry", "--template", "in.tmpl:out.conf", "--exec", "touch reloaded")
	if code != 0 || stdout != "> out.conf\n10.10.0.18" {
		t.Fatalf("code %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	for _, f := range []string{"out.conf", "reloaded"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--dry made %s", f)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	socket := servicesSocket(t)
	t.Chdir(t.TempDir())
	writeFile(t, "parse.tmpl", "upstream {\n{{ servce \"web\" }}\n}\n")
	writeFile(t, "render.tmpl", "{{ service \"legacy\" \"nope\" }}")
	writeFile(t, "ok.tmpl", "ok")
	writeFile(t, "render.conf", "old")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--template", "parse.tmpl:out.conf"}, `Error: cannot parse template parse.tmpl:2: function "servce" not defined` + "\n"},
		{[]string{"--template", "render.tmpl:render.conf"},
			`Error: render render.tmpl:1:3: executing "render.tmpl" at <service "legacy" "nope">: error calling service: no network "nope" (networks: db, web)` + "\n"},
		{[]string{"--template", "ok.tmpl:ok.conf", "--exec", "echo broken >&2; exit 1"},
			`Error: command "echo broken >&2; exit 1": exit status 1: broken` + "\n"},
		{[]string{"--template", "ok.tmpl"}, "Error: invalid --template \"ok.tmpl\": want IN:OUT"},
		{[]string{"--template", "ok.tmpl:x", "--wait", "soon"}, "Error: invalid --wait \"soon\""},
		{[]string{}, `Error: required flag(s) "template" not set`},
	} {
		_, stderr, code := xo(t, socket, append([]string{"template", "--once"}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("xo template %v: code %d\n%s\nwant %s", tc.args, code, stderr, tc.want)
		}
	}
	// A render that failed left the file as it was.
	if got := fileContent(t, "render.conf"); got != "old" {
		t.Errorf("render.conf = %q", got)
	}
	// The agent is needed, and said so.
	_, stderr, code := xo(t, deadSocket(t), "template", "--once", "--template", "ok.tmpl:ok.conf")
	if code != 1 || !strings.Contains(stderr, "Error: read the cluster state: cannot reach the xo agent") {
		t.Errorf("dead agent: code %d %s", code, stderr)
	}
}
