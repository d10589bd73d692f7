package main

import (
	"github.com/spf13/pflag"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// policyFlags are the --update-* (or --rollback-*) flags of a rolling
// update policy. Only the flags given change the policy; the agent
// checks the values and names the flag of each bad one.
type policyFlags struct {
	prefix string
	c      api.UpdateConfig
}

// add defines the flags PREFIX-parallelism ... on fl; what names the
// operation in their help ("an update").
func (p *policyFlags) add(fl *pflag.FlagSet, prefix, what string) {
	p.prefix = prefix
	d := api.DefaultUpdateConfig()
	fl.Uint64Var(&p.c.Parallelism, prefix+"-parallelism", d.Parallelism, "tasks replaced at once in "+what+" (0: all)")
	fl.DurationVar(&p.c.Delay, prefix+"-delay", d.Delay, "wait after each task is replaced in "+what)
	fl.StringVar(&p.c.Order, prefix+"-order", d.Order, "order of "+what+": stop-first (stop the old task, then start "+
		"the new one) or start-first (start the new one, stop the old one once the new one serves)")
	actions := "pause, continue or rollback"
	if prefix == "rollback" {
		actions = "pause or continue"
	}
	fl.StringVar(&p.c.FailureAction, prefix+"-failure-action", d.FailureAction, "what a failure of "+what+" does: "+actions)
	fl.DurationVar(&p.c.Monitor, prefix+"-monitor", d.Monitor, "how long each new task of "+what+
		" is watched for a failure once it serves")
	fl.Float64Var(&p.c.MaxFailureRatio, prefix+"-max-failure-ratio", d.MaxFailureRatio, "share of the tasks of "+what+
		" that may fail (0 to 1) before the failure action")
}

// apply returns cur (nil: the defaults) with the values of the flags
// given; cur itself when none is.
func (p *policyFlags) apply(fl *pflag.FlagSet, cur *api.UpdateConfig) *api.UpdateConfig {
	changed := func(name string) bool { return fl.Changed(p.prefix + "-" + name) }
	if !changed("parallelism") && !changed("delay") && !changed("order") && !changed("failure-action") &&
		!changed("monitor") && !changed("max-failure-ratio") {
		return cur
	}
	c := api.DefaultUpdateConfig()
	if cur != nil {
		c = *cur
	}
	set := func(name string, f func()) {
		if changed(name) {
			f()
		}
	}
	set("parallelism", func() { c.Parallelism = p.c.Parallelism })
	set("delay", func() { c.Delay = p.c.Delay })
	set("order", func() { c.Order = p.c.Order })
	set("failure-action", func() { c.FailureAction = p.c.FailureAction })
	set("monitor", func() { c.Monitor = p.c.Monitor })
	set("max-failure-ratio", func() { c.MaxFailureRatio = p.c.MaxFailureRatio })
	return &c
}
