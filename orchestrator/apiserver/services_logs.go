package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// LogsRequest asks Ops for the logs of one task container.
type LogsRequest struct {
	NodeID      string // the task's node: this one, or another reached over the cluster port
	ContainerID string
	Follow      bool
	Tail        string // "all" or a number of lines
	Since       string // a timestamp or a duration, as docker logs --since takes it
}

// logTask is a task whose logs a request streams: the fields each of its
// lines carries, and its container.
type logTask struct {
	line      api.LogLine
	container string
}

// logTasksFunc picks the tasks whose logs a request for ref streams.
type logTasksFunc func(tx state.ReadTx, ref string) ([]logTask, error)

// serviceLogTasks: every task of the service that has a container.
func serviceLogTasks(tx state.ReadTx, ref string) ([]logTask, error) {
	svc, err := resolveService(tx, ref)
	if err != nil {
		return nil, err
	}
	var out []logTask
	for _, t := range tx.Tasks(svc.ID) {
		if t.Status.ContainerID != "" {
			out = append(out, newLogTask(tx, t))
		}
	}
	return out, nil
}

// taskLogTasks: the task, if it has a container yet.
func taskLogTasks(tx state.ReadTx, ref string) ([]logTask, error) {
	t, err := resolveTask(tx, ref)
	if err != nil || t.Status.ContainerID == "" {
		return nil, err
	}
	return []logTask{newLogTask(tx, t)}, nil
}

func newLogTask(tx state.ReadTx, t *state.Task) logTask {
	return logTask{
		line: api.LogLine{
			ServiceID: t.ServiceID, Service: serviceName(tx, t.ServiceID), TaskID: t.ID, Slot: t.Slot,
			NodeID: t.NodeID, Node: hostname(tx, t.NodeID),
		},
		container: t.Status.ContainerID,
	}
}

// stream registers a logs route: it answers errors like every route,
// then a chunked stream of api.LogLine, one JSON object a line, from
// every picked task at once, until their logs end, the client goes away,
// or the server shuts down.
func (s *Server) stream(mux *http.ServeMux, pattern string, pick logTasksFunc) {
	method, name, _ := strings.Cut(pattern, " ")
	var once sync.Once
	shutdown := make(chan struct{})
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		// Shutdown waits for handlers: end followed streams when it starts.
		once.Do(func() { s.srv.RegisterOnShutdown(func() { close(shutdown) }) })
		start := time.Now()
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-shutdown:
				cancel()
			case <-ctx.Done():
			}
		}()
		code := s.streamLogs(ctx, w, r, pick)
		s.metrics.observe(method, name, code, time.Since(start))
		s.log.Debug("API request", "method", r.Method, "path", r.URL.Path, "code", code, "took", time.Since(start))
	})
}

func (s *Server) streamLogs(ctx context.Context, w http.ResponseWriter, r *http.Request, pick logTasksFunc) int {
	req, tasks, err := s.logsRequest(r, pick)
	if err != nil {
		code := statusOf(err)
		s.write(w, code, api.Error{Message: state.Message(err)})
		return code
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Api-Version", api.APIVersion)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan api.LogLine)
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Go(func() { s.readTask(ctx, req, t, lines) })
	}
	go func() { wg.Wait(); close(lines) }()
	enc := json.NewEncoder(w)
	for l := range lines {
		if ctx.Err() != nil {
			continue // draining after the client went away
		}
		err := enc.Encode(l)
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			cancel()
		}
	}
	return http.StatusOK
}

// logsRequest reads the query (follow, tail, since) and picks the tasks.
func (s *Server) logsRequest(r *http.Request, pick logTasksFunc) (LogsRequest, []logTask, error) {
	var req LogsRequest
	if s.ops == nil {
		return req, nil, &classed{class: errNotImplemented, msg: "this agent does not read logs through its API"}
	}
	var err error
	if req.Follow, err = boolQuery(r, "follow"); err != nil {
		return req, nil, err
	}
	q := r.URL.Query()
	req.Tail, req.Since = q.Get("tail"), q.Get("since")
	if req.Tail == "" {
		req.Tail = "all"
	}
	if n, err := strconv.Atoi(req.Tail); req.Tail != "all" && (err != nil || n < 0) {
		return req, nil, invalid("query parameter tail=%q: want a number of lines or all", req.Tail)
	}
	var tasks []logTask
	s.r.View(func(tx state.ReadTx) { tasks, err = pick(tx, r.PathValue("ref")) })
	return req, tasks, err
}

// readTask sends the lines of one task to out until its logs end or ctx
// does; a failure is sent as a line with Err.
func (s *Server) readTask(ctx context.Context, req LogsRequest, t logTask, out chan<- api.LogLine) {
	send := func(l api.LogLine) error {
		select {
		case out <- l:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	req.NodeID, req.ContainerID = t.line.NodeID, t.container
	err := s.ops.TaskLogs(ctx, req, func(l api.LogLine) error {
		line := t.line
		line.Stream, line.Time, line.Line = l.Stream, l.Time, l.Line
		return send(line)
	})
	if err != nil && ctx.Err() == nil {
		s.log.Debug("task logs", "task", t.line.TaskID, "node", t.line.NodeID, "err", err)
		line := t.line
		line.Err = state.Message(err)
		_ = send(line)
	}
}
