package apiserver

import (
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// defaultWatchWait is how long a blocking watch waits when the request
// names no wait.
const defaultWatchWait = 5 * time.Minute

// eventSource tells a blocking watch when the store commits; *state.Store
// (and the agent's replica, which embeds it) is one. A Reader without it
// answers watches at once, and clients fall back to asking again.
type eventSource interface {
	Watch() (<-chan state.Event, func())
}

// routeWatch registers GET /v1/watch?index=I&wait=D. It must be called
// after s.srv exists: a shutdown ends the blocking watches in flight
// (answering what they have) instead of waiting for their waits to end.
func (s *Server) routeWatch(mux *http.ServeMux) {
	done := make(chan struct{})
	var once sync.Once
	s.srv.RegisterOnShutdown(func() { once.Do(func() { close(done) }) })
	s.route(mux, "GET /v1/watch", func(r *http.Request) (any, error) { return s.watchState(r, done) })
}

// watchState answers the template state. With an index it is a blocking
// query, like Consul's: it answers when the state's index differs from
// the one the client has, or when the wait, the request or the server
// ends (with the same index).
func (s *Server) watchState(r *http.Request, done <-chan struct{}) (any, error) {
	index, wait, err := watchParams(r.URL.Query())
	if err != nil {
		return nil, err
	}
	src, blocking := s.r.(eventSource)
	if index == "" || wait == 0 || !blocking {
		return s.watchView(), nil
	}
	// Subscribe before the first read, so no commit falls in between.
	events, cancel := src.Watch()
	defer cancel()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		v := s.watchView()
		if v.Index != index {
			return v, nil
		}
		select {
		case <-timer.C:
			return v, nil
		case <-done:
			return v, nil
		case <-r.Context().Done():
			return v, nil // nobody reads it
		case _, ok := <-events:
			if !ok {
				return v, nil
			}
			drain(events) // one read for a burst of commits
		}
	}
}

// drain empties what is queued on events without waiting.
func drain(events <-chan state.Event) {
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// watchParams reads index and wait (a Go duration, at most
// api.MaxWatchWait).
func watchParams(q url.Values) (string, time.Duration, error) {
	wait := defaultWatchWait
	if w := q.Get("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < 0 {
			return "", 0, invalid("invalid wait %q: want a duration such as 30s or 5m", w)
		}
		wait = min(d, api.MaxWatchWait)
	}
	return q.Get("index"), wait, nil
}
