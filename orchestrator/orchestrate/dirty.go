package orchestrate

import (
	"sync"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// changes is what the commits since the last pass may have changed: what
// a partial pass must look at again.
type changes struct {
	full      bool            // anything: the next pass looks at everything
	services  map[string]bool // IDs of the services whose decisions may differ
	endpoints bool            // an endpoint changed: serving tasks, hand-run containers
	// named: a service was removed, or an external one created: names
	// freed or taken that external services go by.
	named bool
	// containers are the container IDs that tasks took or left, which
	// decide whether a labelled container is hand-run (see planExternal);
	// containersUnknown says some task's former one is not known.
	containers        map[string]bool
	containersUnknown bool
}

// task is what a tracked task's events leave behind: a deleted task is
// gone from the store when its event is read.
type task struct {
	service   string
	container string
	known     bool // container is its container ID, maybe none
}

// dirty collects the changes between passes. The watch's goroutine and
// the drains write it; the pass takes it whole (take), so a change noted
// while a pass runs goes to the next one.
type dirty struct {
	mu    sync.Mutex
	ch    changes
	tasks map[string]task // by ID: those seen in an event, or reaped
}

func newDirty() *dirty {
	d := &dirty{}
	d.reset()
	return d
}

func emptyChanges() changes {
	return changes{services: map[string]bool{}, containers: map[string]bool{}}
}

// reset forgets everything and asks for a full pass: a new leadership
// knows nothing of the commits before it.
func (d *dirty) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ch = emptyChanges()
	d.ch.full = true
	d.tasks = map[string]task{}
}

// take returns the changes noted since the last take and forgets them.
func (d *dirty) take() changes {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.ch
	d.ch = emptyChanges()
	return c
}

// markFull makes the next pass a full one.
func (d *dirty) markFull() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ch.full = true
}

// markServices makes the next pass look at the services ids.
func (d *dirty) markServices(ids map[string]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range ids {
		d.ch.services[id] = true
	}
}

// own records the service and container IDs of tasks about to be
// deleted (by ID), so that their delete events still tell them.
func (d *dirty) own(service string, containers map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, c := range containers {
		d.tasks[id] = task{service: service, container: c, known: true}
	}
}

// note records what a batch of events may have changed and says whether
// one of them asks for a pass (see relevant). lost says events may have
// been dropped before them: then the next pass is a full one. It reads
// the store, outside the lock of d.
func (o *Orchestrator) note(events []state.Event, lost bool) bool {
	now := make([]*task, len(events)) // each task event's task, if still there
	external := make([]bool, len(events))
	o.cluster.View(func(tx state.ReadTx) {
		for i, e := range events {
			switch e.Kind {
			case "task":
				if t := tx.Task(e.ID); t != nil {
					now[i] = &task{service: t.ServiceID, container: t.Status.ContainerID, known: true}
				}
			case "service":
				svc := tx.Service(e.ID)
				external[i] = svc == nil || svc.External
			}
		}
	})
	d := o.dirty
	d.mu.Lock()
	d.ch.full = d.ch.full || lost
	for i, e := range events {
		switch e.Kind {
		case "service":
			d.ch.services[e.ID] = true
			// An update changes no name; the pass looks again at the
			// external services it knows (adopted, say: see scope).
			d.ch.named = d.ch.named || e.Action == "delete" || (e.Action == "create" && external[i])
		case "task":
			d.noteTask(e, now[i])
		case "endpoint":
			d.ch.endpoints = true
		case "network", "cluster":
			// Nothing a pass reads: networks and the cluster's identity
			// decide no task.
		default: // nodes change every service's decisions; "all" is a restore
			d.ch.full = true
		}
	}
	d.mu.Unlock()
	if lost {
		return true
	}
	for _, e := range events {
		if o.relevant(e) {
			return true
		}
	}
	return false
}

// noteTask records a task event; cur is the task now, nil if it is gone.
// It is called with d.mu held.
func (d *dirty) noteTask(e state.Event, cur *task) {
	before, seen := d.tasks[e.ID]
	if cur == nil && !seen { // a task never seen, gone already: whose was it?
		d.ch.full = true
		return
	}
	if e.Action == "create" {
		before.known, before.container, seen = true, "", true
	}
	after := ""
	if cur == nil { // deleted, maybe after this event: its own is to come
		d.ch.services[before.service] = true
		if e.Action == "delete" {
			delete(d.tasks, e.ID)
		}
	} else {
		d.ch.services[cur.service] = true
		d.tasks[e.ID] = *cur
		after = cur.container
	}
	// Its container joined the tasks' containers, or left them. A task's
	// container ID, once known, is never cleared: one without any had
	// none before.
	switch {
	case (!seen || !before.known) && (cur == nil || after != ""):
		d.ch.containersUnknown = true
		fallthrough
	case before.container != after:
		for _, c := range []string{before.container, after} {
			if c != "" {
				d.ch.containers[c] = true
			}
		}
	}
}
