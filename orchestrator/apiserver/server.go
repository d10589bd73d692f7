// Package apiserver serves the xo agent's local HTTP API on a unix socket.
// It reads the replicated state, hands changes to the agent through Ops,
// and answers with the wire types of package api.
package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Reader is the read side of the replicated state; *state.Store is one.
type Reader interface {
	View(fn func(state.ReadTx))
}

// InfoFunc describes the agent for GET /v1/info. The server adds the
// object counts, and the cluster ID and version when the func leaves them
// empty. Its NodeID also marks this node in GET /v1/nodes (Self).
type InfoFunc func() api.Info

// Server answers API requests from a Reader and an Ops.
type Server struct {
	r       Reader
	info    InfoFunc
	ops     Ops
	log     *slog.Logger
	metrics *metrics
	srv     *http.Server
}

// New returns a server. ops may be nil: the routes that change the
// cluster then answer 501. log may be nil; reg may be nil, then the
// metrics are kept but not registered.
func New(r Reader, info InfoFunc, ops Ops, log *slog.Logger, reg prometheus.Registerer) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if info == nil {
		info = func() api.Info { return api.Info{} }
	}
	s := &Server{r: r, info: info, ops: ops, log: log, metrics: newMetrics(reg, log)}
	mux := http.NewServeMux()
	s.route(mux, "GET /v1/version", s.getVersion)
	s.route(mux, "GET /v1/info", s.getInfo)
	s.route(mux, "GET /v1/networks", s.listNetworks)
	s.route(mux, "GET /v1/networks/{ref}", s.getNetwork)
	s.route(mux, "POST /v1/networks", s.withOps(s.createNetwork))
	s.route(mux, "DELETE /v1/networks/{ref}", s.withOps(s.removeNetwork))
	s.route(mux, "GET /v1/nodes", s.listNodes)
	s.route(mux, "GET /v1/nodes/{ref}", s.getNode)
	s.route(mux, "DELETE /v1/nodes/{ref}", s.withOps(s.removeNode))
	s.route(mux, "POST /v1/nodes/{ref}/promote", s.withOps(s.promoteNode))
	s.route(mux, "POST /v1/nodes/{ref}/demote", s.withOps(s.demoteNode))
	s.route(mux, "POST /v1/nodes/{ref}/update", s.withOps(s.updateNode))
	s.route(mux, "GET /v1/services", s.listServices)
	s.route(mux, "GET /v1/services/{ref}", s.getService)
	s.route(mux, "GET /v1/services/{ref}/tasks", s.listTasks)
	s.route(mux, "POST /v1/services", s.withOps(s.createService))
	s.route(mux, "POST /v1/services/{ref}/update", s.withOps(s.updateService))
	s.route(mux, "POST /v1/services/{ref}/rollback", s.withOps(s.rollbackService))
	s.route(mux, "DELETE /v1/services/{ref}", s.withOps(s.removeService))
	s.stream(mux, "GET /v1/services/{ref}/logs", serviceLogTasks)
	s.stream(mux, "GET /v1/tasks/{ref}/logs", taskLogTasks)
	s.route(mux, "POST /v1/containers/{ref}/drain", s.withOps(s.drainContainer))
	s.route(mux, "POST /v1/cluster/init", s.withOps(s.clusterInit))
	s.route(mux, "POST /v1/cluster/join", s.withOps(s.clusterJoin))
	s.route(mux, "GET /v1/cluster/token/{role}", s.withOps(s.clusterToken))
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.routeWatch(mux) // GET /v1/watch: after s.srv, whose shutdown ends blocking watches
	return s
}

// Handler returns the routes, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve answers requests on l until Shutdown; it then returns nil.
func (s *Server) Serve(l net.Listener) error {
	s.log.Debug("serving API", "addr", l.Addr().String())
	if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("apiserver: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests and waits for those in flight until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("apiserver: shutdown: %w", err)
	}
	return nil
}

// Listen opens the API unix socket: it creates the parent directory,
// removes a stale socket left by a dead agent, and makes the socket
// readable and writable by its owner and group only.
func Listen(socket string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, fmt.Errorf("apiserver: socket dir: %w", err)
	}
	if fi, err := os.Lstat(socket); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("apiserver: %s exists and is not a socket; remove it or choose another --api-socket", socket)
		}
		if c, err := net.DialTimeout("unix", socket, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("apiserver: another process is serving on %s; is another xo agent running?", socket)
		}
		if err := os.Remove(socket); err != nil {
			return nil, fmt.Errorf("apiserver: remove stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("apiserver: listen: %w", err)
	}
	if err := os.Chmod(socket, 0o660); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("apiserver: chmod socket: %w", err)
	}
	return l, nil
}

// handlerFunc answers with a value to encode, or an error to report. A
// nil value answers 204 No Content; a reply sets its own status code.
type handlerFunc func(r *http.Request) (any, error)

// reply is an answer with a status code other than 200.
type reply struct {
	code int
	body any
}

// route registers h under pattern with metrics, logging and JSON encoding.
func (s *Server) route(mux *http.ServeMux, pattern string, h handlerFunc) {
	method, name, _ := strings.Cut(pattern, " ")
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		v, err := h(r)
		code := http.StatusOK
		if rp, ok := v.(reply); ok {
			code, v = rp.code, rp.body
		}
		switch {
		case err != nil:
			code = statusOf(err)
			v = api.Error{Message: state.Message(err)}
			if code == http.StatusInternalServerError {
				s.log.Error("API request failed", "route", name, "err", err)
			} else {
				s.log.Debug("API request refused", "route", name, "code", code, "err", err)
			}
		case v == nil:
			code = http.StatusNoContent
		}
		if code == http.StatusNoContent {
			w.Header().Set("Api-Version", api.APIVersion)
			w.WriteHeader(code)
		} else {
			s.write(w, code, v)
		}
		s.metrics.observe(method, name, code, time.Since(start))
		s.log.Debug("API request", "method", r.Method, "path", r.URL.Path, "code", code, "took", time.Since(start))
	})
}

func (s *Server) write(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode API answer", "err", err)
		code = http.StatusInternalServerError
		body, _ = json.Marshal(api.Error{Message: "apiserver: encode answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Api-Version", api.APIVersion)
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// Error classes a handler returns; the server maps them, and those of
// package state and ErrUnavailable, to status codes.
var (
	errNotFound       = errors.New("not found")
	errInvalid        = errors.New("invalid")
	errNotImplemented = errors.New("not implemented")
)

func statusOf(err error) int {
	switch {
	case errors.Is(err, errNotFound), errors.Is(err, state.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, state.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errInvalid), errors.Is(err, state.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errNotImplemented):
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}

// classed is an error whose text is msg and whose class is one of the
// errors above, so the client sees exactly msg.
type classed struct {
	class error
	msg   string
}

func (e *classed) Error() string { return e.msg }
func (e *classed) Unwrap() error { return e.class }

func notFound(format string, a ...any) error {
	return &classed{class: errNotFound, msg: fmt.Sprintf(format, a...)}
}

func invalid(format string, a ...any) error {
	return &classed{class: errInvalid, msg: fmt.Sprintf(format, a...)}
}

func (s *Server) getVersion(*http.Request) (any, error) {
	return api.BuildInfo(), nil
}

func (s *Server) getInfo(*http.Request) (any, error) {
	info := s.info()
	if info.Version == "" {
		info.Version = api.Version
	}
	s.r.View(func(tx state.ReadTx) {
		if c := tx.Cluster(); info.ClusterID == "" && c != nil {
			info.ClusterID = c.ID
		}
		info.Nodes = len(tx.Nodes())
		info.Networks = len(tx.Networks())
		info.Endpoints = len(tx.Endpoints(""))
		info.Services = len(tx.Services())
		for _, t := range tx.Tasks("") {
			if t.DesiredRunning() {
				info.Tasks++
				if t.Status.State == state.TaskRunning {
					info.TasksRunning++
				}
			}
		}
	})
	return info, nil
}
