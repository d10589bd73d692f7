package template

import (
	"strings"
	"testing"
)

// render loads text as the template in.tmpl and renders it over v.
func render(t *testing.T, text string, v *View) (string, error) {
	t.Helper()
	t.Chdir(t.TempDir()) // errors name the file as given: in.tmpl
	writeTemplate(t, ".", "in.tmpl", text)
	tmpl, err := Load("in.tmpl", "out")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render(v)
	return string(out), err
}

func TestNginxUpstream(t *testing.T) {
	got, err := render(t, upstreamTmpl, NewView(sample("10.1.0.5", "10.1.0.10")))
	if err != nil {
		t.Fatal(err)
	}
	want := `upstream web {
    server 10.1.0.5:8080; # web.1.t1 on h1
    server 10.1.0.10:8080; # web.2.t2 on h2
}
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// No backend: the else branch keeps nginx's upstream valid.
	if got, _ := render(t, upstreamTmpl, NewView(sample())); !strings.Contains(got, "server 127.0.0.1:1 down;") {
		t.Fatalf("no backends:\n%s", got)
	}
}

func TestFunctions(t *testing.T) {
	t.Setenv("XO_TEST_PORT", "8080")
	v := NewView(sample("10.1.0.5", "10.1.0.10"))
	for _, tc := range []struct{ name, text, want string }{
		{"services", `{{ range services }}{{ .Name }} {{ .Mode }} {{ .Running }}/{{ .Desired }} {{ .VIPs.appnet }}{{ end }}`,
			"web replicated 2/2 10.1.0.2"},
		{"service on every network", `{{ join " " (service "web") }}`, "10.1.0.5 10.1.0.10"},
		{"service fields", `{{ range service "web" }}{{ .Name }},{{ .Address }},{{ .Node }},{{ .Network }},{{ .Healthy }},{{ .Service }};{{ end }}`,
			"web.1.t1,10.1.0.5,h1,appnet,true,web;web.2.t2,10.1.0.10,h2,appnet,true,web;"},
		{"service on another network", `{{ len (service "web" "backnet") }}`, "0"},
		{"unknown service", `{{ len (service "nope") }}`, "0"},
		{"tasks of a service", `{{ range tasks "web" }}{{ .Name }}={{ .State }} {{ end }}`,
			"web.1.t1=running web.2.t2=running web.9.t9=complete "},
		{"all tasks", `{{ len tasks }}`, "3"},
		{"endpoints of a network", `{{ range endpoints "appnet" }}{{ .Address }}:{{ .Healthy }} {{ end }}`,
			"10.1.0.5:true 10.1.0.10:true 10.1.0.99:false "},
		{"all endpoints", `{{ join "," endpoints }}`, "10.1.0.5,10.1.0.10,10.1.0.99,10.2.0.7"},
		{"networks and nodes", `{{ join "," networks }} {{ join "," nodes }}`, "appnet,backnet h1,h2"},
		{"dot is the view", `{{ range .Services }}{{ .Name }}{{ end }} {{ len .Endpoints }}`, "web 4"},
		{"env and printf", `{{ printf "%s:%s" "web" (env "XO_TEST_PORT") }}`, "web:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render(t, tc.text, v)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestFunctionErrors(t *testing.T) {
	v := NewView(sample("10.1.0.5"))
	for _, tc := range []struct{ name, text, want string }{
		{"unknown network", "\n\n{{ service \"web\" \"appnett\" }}",
			`render in.tmpl:3:3: executing "in.tmpl" at <service "web" "appnett">: error calling service: no network "appnett" (networks: appnet, backnet)`},
		{"two networks", `{{ endpoints "appnet" "backnet" }}`, `want at most one network name, got 2`},
		{"tasks of two services", `{{ tasks "a" "b" }}`, `tasks takes at most one service name, got 2 arguments`},
		{"join of a string", `{{ join "," "abc" }}`, `join: want a list, got string`},
		{"missing map key", `{{ (index services 0).Labels.team }}`, `map has no entry for key "team"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render(t, tc.text, v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, %v; want an error with %q", got, err, tc.want)
			}
		})
	}
}
