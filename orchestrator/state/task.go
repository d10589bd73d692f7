package state

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// TaskState is a task's place in its life, as in Swarm. States are
// ordered: a task's observed state and its desired state only move
// forward.
type TaskState string

// Task states, in order.
const (
	TaskNew       TaskState = "new"
	TaskPending   TaskState = "pending"   // waiting for the scheduler
	TaskAssigned  TaskState = "assigned"  // on a node, its executor not yet started
	TaskAccepted  TaskState = "accepted"  // the executor took it
	TaskPreparing TaskState = "preparing" // image, container creation
	TaskStarting  TaskState = "starting"
	TaskRunning   TaskState = "running"
	TaskComplete  TaskState = "complete" // exited 0
	TaskShutdown  TaskState = "shutdown" // stopped because desired
	TaskFailed    TaskState = "failed"   // exited non-zero, unhealthy, or its container vanished
	TaskRejected  TaskState = "rejected" // the engine refused it
	TaskRemove    TaskState = "remove"   // desired only: stop, then delete
	TaskOrphaned  TaskState = "orphaned" // its node is gone
)

var taskStates = []TaskState{
	TaskNew, TaskPending, TaskAssigned, TaskAccepted, TaskPreparing, TaskStarting, TaskRunning,
	TaskComplete, TaskShutdown, TaskFailed, TaskRejected, TaskRemove, TaskOrphaned,
}

func (s TaskState) rank() int { return slices.Index(taskStates, s) }

// Valid says whether s is one of the task states.
func (s TaskState) Valid() bool { return s.rank() >= 0 }

// Less says whether s comes before o.
func (s TaskState) Less(o TaskState) bool { return s.rank() < o.rank() }

// Terminal says whether a task in state s will never run again.
func (s TaskState) Terminal() bool { return s.rank() > TaskRunning.rank() }

// Task is one container of a service on one node.
type Task struct {
	ID        string `json:"id"`
	ServiceID string `json:"service_id"`
	Slot      uint64 `json:"slot,omitempty"`    // replicated: 1..replicas; global: 0
	NodeID    string `json:"node_id,omitempty"` // global: from creation; replicated: once scheduled
	// SpecVersion is the service's SpecVersion when the task was created.
	SpecVersion uint64 `json:"spec_version"`
	// SpecDigest is the service's SpecDigest when the task was created:
	// what it runs (see Service.Outdated and TaskSpec).
	SpecDigest   string     `json:"spec_digest,omitempty"`
	DesiredState TaskState  `json:"desired_state"`
	Status       TaskStatus `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	// Attempt counts the restarts of its slot (or node, global) before it.
	Attempt uint64 `json:"attempt,omitempty"`
	// Replaces is the task of the same slot this one took over from: it
	// orders a slot's tasks and lets the FSM refuse a duplicate.
	Replaces string `json:"replaces,omitempty"`
	// StopGracePeriod is copied from the spec at creation, so the executor
	// can still stop the container after its service is gone.
	StopGracePeriod time.Duration `json:"stop_grace_period,omitempty"`
	// Draining: out of service (DNS, load balancers) before its stop, its
	// container still running (see DrainTasks).
	Draining bool `json:"draining,omitempty"`
}

// TaskStatus is what was last observed of a task: by the scheduler
// (pending, assigned) and then by its node's executor.
type TaskStatus struct {
	State       TaskState `json:"state"`
	Message     string    `json:"message,omitempty"`
	Err         string    `json:"err,omitempty"` // why it failed, or why it cannot be placed
	Timestamp   time.Time `json:"timestamp,omitzero"`
	ContainerID string    `json:"container_id,omitempty"`
	ExitCode    int       `json:"exit_code,omitempty"`
}

// TaskName is a task's (and its container's) name, as in Swarm:
// SERVICE.SLOT.TASKID for a replicated task, SERVICE.NODEID.TASKID for a
// global one.
func TaskName(service string, t *Task) string {
	if t.Slot == 0 && t.NodeID != "" {
		return fmt.Sprintf("%s.%s.%s", service, t.NodeID, t.ID)
	}
	return service + "." + strconv.FormatUint(t.Slot, 10) + "." + t.ID
}

// DesiredRunning says whether the orchestrator wants t to run (its
// desired state is running, or before).
func (t *Task) DesiredRunning() bool { return !TaskRunning.Less(t.DesiredState) }

// HoldsNode says whether t takes a place (and its reservations) on its
// node: it was assigned there and has not ended. A task that failed keeps
// its desired state until its replacement runs, but its container is
// gone: its node is free for the replacement (spread puts it back there).
func (t *Task) HoldsNode() bool {
	return t.NodeID != "" && !t.Status.State.Less(TaskAssigned) && !t.Status.State.Terminal()
}

func (t *Task) clone() *Task {
	c := *t
	return &c
}
