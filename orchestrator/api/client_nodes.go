package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Nodes lists the cluster's nodes, ordered by hostname then ID.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var ns []Node
	err := c.get(ctx, "/v1/nodes", &ns)
	return ns, err
}

// Node returns one node by ID, hostname or unique ID prefix.
func (c *Client) Node(ctx context.Context, ref string) (Node, error) {
	var n Node
	path, err := nodePath(ref, "")
	if err != nil {
		return n, err
	}
	err = c.get(ctx, path, &n)
	return n, err
}

// NodeRemove removes a node from the cluster. Without force the agent
// refuses to remove a node that is not down.
func (c *Client) NodeRemove(ctx context.Context, ref string, force bool) error {
	path, err := nodePath(ref, "")
	if err != nil {
		return err
	}
	if force {
		path += "?force=1"
	}
	return c.write(ctx, http.MethodDelete, path, nil, nil)
}

// NodePromote makes a node a manager.
func (c *Client) NodePromote(ctx context.Context, ref string) error {
	path, err := nodePath(ref, "/promote")
	if err != nil {
		return err
	}
	return c.write(ctx, http.MethodPost, path, nil, nil)
}

// NodeDemote makes a node a worker.
func (c *Client) NodeDemote(ctx context.Context, ref string) error {
	path, err := nodePath(ref, "/demote")
	if err != nil {
		return err
	}
	return c.write(ctx, http.MethodPost, path, nil, nil)
}

// NodeUpdate changes a node's labels and availability.
func (c *Client) NodeUpdate(ctx context.Context, ref string, req NodeUpdateRequest) error {
	path, err := nodePath(ref, "/update")
	if err != nil {
		return err
	}
	return c.write(ctx, http.MethodPost, path, req, nil)
}

func nodePath(ref, suffix string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("api: empty node name or ID")
	}
	return "/v1/nodes/" + url.PathEscape(ref) + suffix, nil
}
