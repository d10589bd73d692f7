package executor

import (
	"context"
	"maps"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// simSub is one subscription to a SimEngine's events: a queue the
// engine appends to and a pump goroutine that hands it to the reader.
type simSub struct {
	filter filters.Args
	mu     sync.Mutex
	queue  []events.Message
	over   bool          // the reader fell too far behind: the stream ends
	ready  chan struct{} // the queue changed (1-buffered)
}

// simEventFilters are the event filters the engine knows.
var simEventFilters = map[string]bool{"type": true, "event": true, "label": true, "container": true}

// Events streams the container events matching opts.Filters (type,
// event, label, container) until ctx ends, when the error channel gets
// ctx's error, as the Docker client does. Since and Until are not
// supported. A reader more than 65,536 events behind gets an error and
// the stream ends: subscribe again.
func (s *SimEngine) Events(ctx context.Context, opts events.ListOptions) (<-chan events.Message, <-chan error) {
	msgs, errs := make(chan events.Message), make(chan error, 1)
	for _, k := range opts.Filters.Keys() {
		if !simEventFilters[k] {
			errs <- cerrdefs.ErrInvalidArgument.WithMessage("invalid filter '" + k + "'")
			return msgs, errs
		}
	}
	if opts.Since != "" || opts.Until != "" {
		errs <- cerrdefs.ErrNotImplemented.WithMessage("the simulated engine has no event history (since, until)")
		return msgs, errs
	}
	sub := &simSub{filter: opts.Filters.Clone(), ready: make(chan struct{}, 1)}
	if err := s.lock(); err != nil {
		errs <- err
		return msgs, errs
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	go func() { // owned by the subscription: ends with ctx or an overflow
		defer func() {
			s.mu.Lock()
			delete(s.subs, sub)
			s.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			case <-sub.ready:
			}
			sub.mu.Lock()
			batch, over := sub.queue, sub.over
			sub.queue = nil
			sub.mu.Unlock()
			if over {
				errs <- cerrdefs.ErrUnavailable.WithMessage("simulated engine: event reader fell behind; subscribe again")
				return
			}
			for _, m := range batch {
				select {
				case msgs <- m:
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
		}
	}()
	return msgs, errs
}

// emit sends a container event to the matching subscribers; the lock is
// held. Its attributes are the container's labels, name and image, and
// extra (key, value pairs).
func (s *SimEngine) emit(action events.Action, c *simContainer, extra ...string) {
	if len(s.subs) == 0 {
		return
	}
	attrs := maps.Clone(c.cfg.Labels)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["name"], attrs["image"] = c.name, c.cfg.Image
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = extra[i+1]
	}
	now := s.now()
	m := events.Message{Type: events.ContainerEventType, Action: action, Scope: "local",
		Actor: events.Actor{ID: c.id, Attributes: attrs}, Time: now.Unix(), TimeNano: now.UnixNano()}
	for sub := range s.subs {
		if !sub.wants(m, c) {
			continue
		}
		sub.mu.Lock()
		if len(sub.queue) >= s.maxSubQ {
			sub.over = true
		} else {
			sub.queue = append(sub.queue, m)
		}
		sub.mu.Unlock()
		select {
		case sub.ready <- struct{}{}:
		default:
		}
	}
}

// wants says whether the subscription's filters let m (about c) through.
// An event filter of health_status (and the other kinds of action with
// a ": detail") matches its prefix.
func (sub *simSub) wants(m events.Message, c *simContainer) bool {
	f := sub.filter
	if !f.ExactMatch("type", string(m.Type)) || !f.MatchKVList("label", c.cfg.Labels) {
		return false
	}
	if acts := f.Get("event"); len(acts) > 0 {
		action, _, _ := strings.Cut(string(m.Action), ":")
		ok := false
		for _, a := range acts {
			ok = ok || a == string(m.Action) || a == action
		}
		if !ok {
			return false
		}
	}
	if refs := f.Get("container"); len(refs) > 0 {
		ok := false
		for _, r := range refs {
			ok = ok || r == c.name || strings.HasPrefix(c.id, r)
		}
		return ok
	}
	return true
}
