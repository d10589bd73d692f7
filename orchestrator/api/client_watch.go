package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// MaxWatchWait is the longest wait the agent grants one watch.
const MaxWatchWait = 10 * time.Minute

// watchSlack is how much longer than its wait a watch may take before the
// client gives up on the agent.
const watchSlack = 15 * time.Second

// Watch returns the state templates render (see WatchState). With index
// "" it answers at once. Otherwise it is a blocking query: the agent
// answers as soon as the state's index differs from index, or after wait
// (at most MaxWatchWait) with the same index.
func (c *Client) Watch(ctx context.Context, index string, wait time.Duration) (WatchState, error) {
	var st WatchState
	wait = min(max(wait, 0), MaxWatchWait)
	q := url.Values{}
	if index != "" {
		q.Set("index", index)
		q.Set("wait", wait.String())
	}
	path := "/v1/watch"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, wait+watchSlack)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://xo"+path, nil)
	if err != nil {
		return st, fmt.Errorf("api: GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "xo/"+Version)
	// Not c.http: its overall timeout is shorter than a long wait.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		return st, c.transportError(http.MethodGet, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return st, decodeError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("api: GET %s: decode answer: %w", path, err)
	}
	return st, nil
}
