package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// ClusterInit makes this agent's node the first manager of a new cluster.
func (c *Client) ClusterInit(ctx context.Context, req ClusterInitRequest) (ClusterInfo, error) {
	var ci ClusterInfo
	err := c.write(ctx, http.MethodPost, "/v1/cluster/init", req, &ci)
	return ci, err
}

// ClusterJoin makes this agent's node join the cluster a manager at
// req.RemoteAddr belongs to, with the role req.Token grants.
func (c *Client) ClusterJoin(ctx context.Context, req ClusterJoinRequest) (ClusterInfo, error) {
	var ci ClusterInfo
	if req.Token == "" || req.RemoteAddr == "" {
		return ci, fmt.Errorf("api: cluster join needs a token and a remote address")
	}
	err := c.write(ctx, http.MethodPost, "/v1/cluster/join", req, &ci)
	return ci, err
}

// ClusterToken returns the join token of role (RoleWorker or
// RoleManager), replacing it with a new one first when rotate is set.
func (c *Client) ClusterToken(ctx context.Context, role string, rotate bool) (string, error) {
	if role != RoleWorker && role != RoleManager {
		return "", fmt.Errorf("api: unknown role %q: use %s or %s", role, RoleWorker, RoleManager)
	}
	path := "/v1/cluster/token/" + url.PathEscape(role)
	if rotate {
		path += "?rotate=1"
	}
	var t JoinToken
	err := c.write(ctx, http.MethodGet, path, nil, &t)
	return t.Token, err
}
