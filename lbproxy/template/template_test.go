package template

import (
	"os"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	src, dest, err := ParseSpec("in.tmpl:/etc/nginx/conf.d/up.conf")
	if err != nil || src != "in.tmpl" || dest != "/etc/nginx/conf.d/up.conf" {
		t.Fatalf("%q %q %v", src, dest, err)
	}
	for _, bad := range []string{"in.tmpl", ":out", "in:", "a:b:c", ""} {
		if _, _, err := ParseSpec(bad); err == nil || !strings.Contains(err.Error(), "want IN:OUT") {
			t.Errorf("ParseSpec(%q): %v", bad, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	writeTemplate(t, ".", "syntax.tmpl", "upstream web {\n  server {{ if }};\n}\n")
	writeTemplate(t, ".", "func.tmpl", "a\nb\n{{ servce \"web\" }}\n")
	writeTemplate(t, ".", "ok.tmpl", "{{ len services }}\n")
	if err := os.Mkdir("out.d", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ src, dest, want string }{
		{"syntax.tmpl", "out", "cannot parse template syntax.tmpl:2: missing value for if"},
		{"func.tmpl", "out", `cannot parse template func.tmpl:3: function "servce" not defined`},
		{"missing.tmpl", "out", "read template: open missing.tmpl: no such file or directory"},
		{"ok.tmpl", "nodir/out", "output directory nodir of nodir/out does not exist: create it first"},
		{"ok.tmpl", "out.d", "output out.d is a directory: name a file"},
	} {
		_, err := Load(tc.src, tc.dest)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Load(%s, %s) = %v\nwant %s", tc.src, tc.dest, err, tc.want)
		}
	}
}

func TestLoadAll(t *testing.T) {
	t.Chdir(t.TempDir())
	writeTemplate(t, ".", "a.tmpl", "a")
	writeTemplate(t, ".", "b.tmpl", "b")
	ts, err := LoadAll([]string{"a.tmpl:a.out", "b.tmpl:b.out"})
	if err != nil || len(ts) != 2 || ts[1].Source != "b.tmpl" || ts[1].Dest != "b.out" {
		t.Fatalf("%+v %v", ts, err)
	}
	_, err = LoadAll([]string{"a.tmpl:same.out", "b.tmpl:./same.out"})
	if err == nil || !strings.Contains(err.Error(), "write the same file") {
		t.Errorf("same output twice: %v", err)
	}
	if _, err := LoadAll(nil); err == nil || !strings.Contains(err.Error(), "no --template given") {
		t.Errorf("no template: %v", err)
	}
}
