// Package template renders Go text/template files over the live cluster
// state (services, tasks and endpoints, as the local agent's replica holds
// them) into configuration files, like consul-template. It is what runs
// `xo template --template in.tmpl:out.conf --exec 'nginx -s reload'`.
//
// A Runner reads the state with blocking queries (GET /v1/watch on the
// agent's API: the answer comes when the state changes), waits for it to
// settle (Wait), renders every Template, replaces a file atomically only
// when its content changed (WriteFile), and then runs a Command, retried
// with back-off while it fails. A template that fails to render leaves
// its file as it was; the error is logged and counted in
// xo_template_renders_total{result="error"} and xo_template_render_failing.
// The functions a template can call are listed in FuncHelp.
package template
