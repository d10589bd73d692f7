package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// ContainerDrain takes a hand-run container (name or ID, on any host)
// out of service, or back in with req.Undo, and returns once every node
// that is not down acknowledged it, or the timeout passed (Missing then
// names the nodes).
func (c *Client) ContainerDrain(ctx context.Context, ref string, req ContainerDrainRequest) (ContainerDrainResult, error) {
	var out ContainerDrainResult
	if ref == "" {
		return out, fmt.Errorf("api: empty container name or ID")
	}
	err := c.write(ctx, http.MethodPost, "/v1/containers/"+url.PathEscape(ref)+"/drain", req, &out)
	return out, err
}
