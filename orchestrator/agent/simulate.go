package agent

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/xoverlay/xoverlay/orchestrator/executor"
)

// taskEngine is the engine the node executor runs tasks on: the Docker
// engine, or with --simulate-tasks a simulated one (executor.SimEngine)
// whose containers are records in memory and in a journal in the state
// directory, kept across restarts. Nothing but the executor sees them:
// no process runs, no network endpoint is made.
func (a *Agent) taskEngine(stack *stopStack, docker executor.Docker, log *slog.Logger) (executor.Docker, error) {
	if !a.cfg.SimulateTasks {
		return docker, nil
	}
	path := filepath.Join(a.cfg.StateDir, "simulated-engine.jsonl")
	sim, err := executor.OpenSimEngine(path)
	if err != nil {
		return nil, fmt.Errorf("agent: --simulate-tasks: %w", err)
	}
	stack.push("simulated engine", sim.Close)
	log.Warn("tasks run on a simulated engine (--simulate-tasks), not on the Docker engine", "journal", path)
	return sim, nil
}
