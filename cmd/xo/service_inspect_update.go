package main

import (
	"strconv"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// prettyUpdateStatus prints what the last rolling update or rollback
// did, as docker service inspect --pretty does; nothing when there was
// none.
func prettyUpdateStatus(p func(int, string, any), head func(int, string), st *api.UpdateStatus) {
	if st == nil {
		return
	}
	head(0, "UpdateStatus")
	p(1, "State", st.State)
	if !st.StartedAt.IsZero() {
		p(1, "Started", humanDuration(now().Sub(st.StartedAt))+" ago")
	}
	if !st.CompletedAt.IsZero() {
		p(1, "Completed", humanDuration(now().Sub(st.CompletedAt))+" ago")
	}
	p(1, "Message", st.Message)
}

// prettyPolicy prints an update or rollback policy the spec has (none:
// the defaults, not printed).
func prettyPolicy(p func(int, string, any), head func(int, string), name string, c *api.UpdateConfig) {
	if c == nil {
		return
	}
	cfg := *c
	head(0, name)
	p(1, "Parallelism", cfg.Parallelism)
	if cfg.Delay != 0 {
		p(1, "Delay", cfg.Delay)
	}
	p(1, "On failure", cfg.FailureAction)
	p(1, "Monitoring Period", cfg.Monitor)
	p(1, "Max failure ratio", strconv.FormatFloat(cfg.MaxFailureRatio, 'f', -1, 64))
	p(1, "Update order", cfg.Order)
}
