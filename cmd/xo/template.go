package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/lbproxy/template"
)

// templateOptions are the flags of xo template.
type templateOptions struct {
	specs       []string
	exec        string
	execTimeout time.Duration
	wait        string
	once        bool
	dry         bool
	metricsAddr string
}

func newTemplateCmd(opts *rootOptions) *cobra.Command {
	var o templateOptions
	cmd := &cobra.Command{
		Use:   "template --template IN:OUT [--template IN:OUT...] [--exec COMMAND]",
		Short: "Render files from the cluster's services (nginx upstreams) and reload what reads them",
		Long: `Render Go templates (text/template) over the live cluster state, as this
host's agent holds it, into files, like consul-template. A file is
replaced atomically (a temporary file renamed over it, keeping its mode
and owner) and only when its content changes; after each round that
changed a file, --exec runs (with /bin/sh -c, bounded by --exec-timeout).
A command that fails is reported and run again with back-off (1s, 2s, ...
up to 1m) until it succeeds.

The state is read with blocking queries: the agent answers as soon as it
changes. --wait MIN[:MAX] then waits until it has been quiet for MIN, but
no longer than MAX (default 4*MIN), so a scale of many tasks gives one
render and one reload.

A template that does not parse is an error at start, naming FILE:LINE. One
that fails to render (say, it names a network that does not exist) leaves
its file as it was: the error is logged, counted in
xo_template_renders_total{result="error"} and xo_template_render_failing,
and the renders go on. --once renders once, runs the command once if a file
changed, and exits non-zero on any error: for CI and for a first render
before starting nginx.

Functions:
` + template.FuncHelp + `

Example template, an nginx upstream (nginx refuses an empty one):
  upstream web {
  {{- range service "web" "appnet" }}
      server {{ .Address }}:8080;  # {{ .Name }} on {{ .Node }}
  {{- else }}
      server 127.0.0.1:1 down;
  {{- end }}
  }`,
		Example: `  xo template --template /etc/xo/web.tmpl:/etc/nginx/conf.d/web.conf --exec 'nginx -s reload'
  xo template --once --template web.tmpl:web.conf
  xo template --once --dry --template web.tmpl:web.conf   # print, write nothing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wait, err := template.ParseWait(o.wait)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			if o.execTimeout <= 0 {
				return usagef(cmd, "invalid --exec-timeout %s: want a duration above 0", o.execTimeout)
			}
			tmpls, err := template.LoadAll(o.specs)
			if err != nil {
				return err
			}
			return runTemplates(cmd, opts, o, wait, tmpls)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.specs, "template", nil, "IN:OUT, a template file and the file it renders to (repeatable)")
	f.StringVar(&o.exec, "exec", "", "command to run after files changed, e.g. 'nginx -s reload'")
	f.DurationVar(&o.execTimeout, "exec-timeout", template.DefaultExecTimeout, "time after which --exec is killed (and counted as failed)")
	f.StringVar(&o.wait, "wait", "0", "MIN[:MAX]: render once the state has been quiet for MIN, at most MAX after a change (e.g. 100ms:1s)")
	f.BoolVar(&o.once, "once", false, "render once, run --exec once if a file changed, and exit (non-zero on any error)")
	f.BoolVar(&o.dry, "dry", false, "print the renders on stdout instead of writing files; run no command")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "address for Prometheus /metrics, e.g. 127.0.0.1:9181 (empty disables)")
	_ = cmd.MarkFlagRequired("template")
	return cmd
}

func runTemplates(cmd *cobra.Command, opts *rootOptions, o templateOptions, wait template.Wait, tmpls []*template.Template) error {
	log := slog.Default().With("component", "template")
	reg := prometheus.NewRegistry()
	m, err := template.NewMetrics(reg)
	if err != nil {
		return err
	}
	ro := template.Options{Wait: wait, Log: log, Metrics: m}
	if o.exec != "" {
		ro.Command = template.Shell{Line: o.exec, Timeout: o.execTimeout}
	}
	if o.dry {
		ro.Dry = cmd.OutOrStdout()
	}
	r := template.NewRunner(opts.client(), tmpls, ro)
	if o.once {
		return r.Once(cmd.Context())
	}
	if o.metricsAddr != "" {
		stop, err := serveMetrics(o.metricsAddr, reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("rendering templates", "templates", len(tmpls), "exec", o.exec, "wait", wait.String(), "pid", os.Getpid())
	return r.Run(cmd.Context())
}
