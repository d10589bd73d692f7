package apiserver

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// How long, and how often, createNetwork looks for the network it made in
// the store before answering.
var (
	createWait = 2 * time.Second
	createPoll = 20 * time.Millisecond
)

func (s *Server) createNetwork(r *http.Request) (any, error) {
	var req api.NetworkCreateRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Name) == "" {
		return nil, invalid("a network needs a name")
	}
	id, err := s.ops.NetworkCreate(r.Context(), req)
	if err != nil {
		return nil, err
	}
	return reply{code: http.StatusCreated, body: s.awaitNetwork(r.Context(), id, req)}, nil
}

// awaitNetwork polls the store until the network created as id appears
// with its name, for up to createWait. It then answers what the store
// has, or, when the network has not replicated here yet, what was asked.
func (s *Server) awaitNetwork(ctx context.Context, id string, req api.NetworkCreateRequest) api.Network {
	deadline := time.Now().Add(createWait)
	for {
		var (
			out   api.Network
			found bool
		)
		s.r.View(func(tx state.ReadTx) {
			if n := createdNetwork(tx, id); n != nil {
				out, found = buildNetwork(tx, n, tx.Endpoints(n.ID)), true
			}
		})
		if found && out.Name != "" {
			return out
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if found {
				return out
			}
			s.log.Debug("created network not replicated yet", "id", id, "name", req.Name)
			return api.Network{
				ID: id, Name: req.Name, Subnet: req.Subnet, IPRange: req.IPRange, Gateway: req.Gateway,
				Options: maps.Clone(req.Options), Hosts: []api.NetworkHost{},
			}
		}
		t := time.NewTimer(createPoll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// createdNetwork finds a network by its ID or by one of its engine
// network IDs.
func createdNetwork(tx state.ReadTx, id string) *state.Network {
	if n := tx.Network(id); n != nil {
		return n
	}
	for _, n := range tx.Networks() {
		if slices.Contains(slices.Collect(maps.Values(n.Engines)), id) {
			return n
		}
	}
	return nil
}

func (s *Server) removeNetwork(r *http.Request) (any, error) {
	var (
		id  string
		err error
	)
	s.r.View(func(tx state.ReadTx) {
		var n *state.Network
		if n, err = resolve(tx, r.PathValue("ref")); err == nil {
			id = n.ID
		}
	})
	if err != nil {
		return nil, err
	}
	return nil, s.ops.NetworkRemove(r.Context(), id)
}
