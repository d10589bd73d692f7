package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// LogsRequest asks a node for the logs of a container on its engine.
type LogsRequest struct {
	ContainerID string
	Follow      bool
	Tail        string // "all" or a number of lines
	Since       string // a timestamp or a duration, as docker logs --since takes it
}

// LogEntry is one line of a container's output.
type LogEntry struct {
	Stream string    `json:"stream,omitempty"` // stdout or stderr
	Time   time.Time `json:"time,omitzero"`
	Line   string    `json:"line"` // without its newline
}

// LogSource reads the logs of containers on this node's engine; the agent
// provides it. It calls emit for each line until the logs end (or, with
// Follow, ctx does) and stops at emit's first error.
type LogSource interface {
	ContainerLogs(ctx context.Context, req LogsRequest, emit func(LogEntry) error) error
}

// logSources holds each node's LogSource by node ID, not by member, so it
// outlives the member swaps of `cluster init` and `cluster join`.
var logSources sync.Map // node ID -> LogSource

// RegisterLogSource makes the node RPC of member nodeID answer
// GET /rpc/v1/logs from src, until the returned func is called.
func RegisterLogSource(nodeID string, src LogSource) (unregister func()) {
	logSources.Store(nodeID, src)
	return func() { logSources.CompareAndDelete(nodeID, src) }
}

// logRecord is one line of the GET /rpc/v1/logs stream: an entry, or, as
// the last line, the error that ended the logs.
type logRecord struct {
	LogEntry
	Class string `json:"class,omitempty"`
	Error string `json:"error,omitempty"`
}

// handleLogs streams a container's logs, one JSON logRecord a line. An
// error before the first line answers like every RPC error.
func (c *Raft) handleLogs(w http.ResponseWriter, r *http.Request, _ string) {
	v, ok := logSources.Load(c.cfg.NodeID)
	if !ok {
		writeErr(w, http.StatusNotImplemented, fmt.Errorf("cluster: node %s does not serve logs", c.cfg.NodeID))
		return
	}
	q := r.URL.Query()
	follow, _ := strconv.ParseBool(q.Get("follow"))
	req := LogsRequest{ContainerID: q.Get("container"), Follow: follow, Tail: q.Get("tail"), Since: q.Get("since")}
	if req.ContainerID == "" {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("%w: cluster: logs: no container", state.ErrInvalid))
		return
	}
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	started := false
	err := v.(LogSource).ContainerLogs(r.Context(), req, func(e LogEntry) error {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if err := enc.Encode(logRecord{LogEntry: e}); err != nil {
			return err
		}
		return rc.Flush()
	})
	switch {
	case err != nil && !started:
		writeErr(w, http.StatusInternalServerError, err)
	case err != nil:
		_ = enc.Encode(logRecord{Class: state.ErrorClass(err), Error: err.Error()})
	case !started:
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	}
}

// Logs reads the logs of a container on the node at addr (its RaftAddr)
// over the cluster port, calling emit for each line until they end or
// ctx does. Errors keep their class (state.ErrNotFound, ...).
func (c *Raft) Logs(ctx context.Context, addr string, req LogsRequest, emit func(LogEntry) error) error {
	if c.client == nil {
		return fmt.Errorf("cluster: logs from %s: this node is not in a multi-node cluster", addr)
	}
	q := url.Values{"container": {req.ContainerID}, "tail": {req.Tail}, "since": {req.Since}}
	if req.Follow {
		q.Set("follow", "1")
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/rpc/v1/logs?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("cluster: logs from %s: %w", addr, err)
	}
	// The pooled connections, without the client's timeout: a followed
	// stream lasts until ctx ends.
	resp, err := (&http.Client{Transport: c.client.Transport}).Do(hreq)
	if err != nil {
		return fmt.Errorf("cluster: logs from %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return rpcError(resp.StatusCode, b)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var rec logRecord
		err := dec.Decode(&rec)
		switch {
		case err != nil && ctx.Err() != nil: // cut by the reader, even at a clean end
			return ctx.Err()
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("cluster: logs from %s: %w", addr, err)
		case rec.Error != "":
			return state.ClassError(rec.Class, rec.Error)
		}
		if err := emit(rec.LogEntry); err != nil {
			return err
		}
	}
}
