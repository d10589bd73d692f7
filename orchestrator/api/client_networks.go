package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// NetworkCreate creates an xoverlay network on every engine of the
// cluster and returns it as the cluster first sees it.
func (c *Client) NetworkCreate(ctx context.Context, req NetworkCreateRequest) (Network, error) {
	var n Network
	if req.Name == "" {
		return n, fmt.Errorf("api: a network needs a name")
	}
	err := c.write(ctx, http.MethodPost, "/v1/networks", req, &n)
	return n, err
}

// NetworkRemove removes a network, by name, ID or unique ID prefix, from
// every engine of the cluster.
func (c *Client) NetworkRemove(ctx context.Context, ref string) error {
	if ref == "" {
		return fmt.Errorf("api: empty network name or ID")
	}
	return c.write(ctx, http.MethodDelete, "/v1/networks/"+url.PathEscape(ref), nil, nil)
}
