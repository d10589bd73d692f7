package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Services lists every service, ordered by name.
func (c *Client) Services(ctx context.Context) ([]Service, error) {
	var ss []Service
	err := c.get(ctx, "/v1/services", &ss)
	return ss, err
}

// Service returns one service by ID, name or unique ID prefix.
func (c *Client) Service(ctx context.Context, ref string) (Service, error) {
	var s Service
	path, err := servicePath(ref, "")
	if err != nil {
		return s, err
	}
	err = c.get(ctx, path, &s)
	return s, err
}

// ServiceTasks lists the tasks of a service, current and past, ordered by
// slot (or node), then creation.
func (c *Client) ServiceTasks(ctx context.Context, ref string) ([]Task, error) {
	var ts []Task
	path, err := servicePath(ref, "/tasks")
	if err != nil {
		return nil, err
	}
	err = c.get(ctx, path, &ts)
	return ts, err
}

// ServiceCreate creates a service. The agent checks the spec against the
// cluster first and stores nothing when it is refused.
func (c *Client) ServiceCreate(ctx context.Context, spec ServiceSpec) (Service, error) {
	var s Service
	err := c.write(ctx, http.MethodPost, "/v1/services", spec, &s)
	return s, err
}

// ServiceUpdate replaces a service's spec. It fails with ErrConflict when
// req.Version is not the service's version any more: read it again and
// retry.
func (c *Client) ServiceUpdate(ctx context.Context, ref string, req ServiceUpdateRequest) (Service, error) {
	var s Service
	path, err := servicePath(ref, "/update")
	if err != nil {
		return s, err
	}
	err = c.write(ctx, http.MethodPost, path, req, &s)
	return s, err
}

// ServiceRemove removes a service; its executors stop its tasks.
func (c *Client) ServiceRemove(ctx context.Context, ref string) error {
	path, err := servicePath(ref, "")
	if err != nil {
		return err
	}
	return c.write(ctx, http.MethodDelete, path, nil, nil)
}

// ServiceLogs calls fn with each line of the logs of a service's tasks,
// read from the engines of their nodes, until the logs end (or, with
// Follow, until ctx ends). An error of fn stops the stream.
func (c *Client) ServiceLogs(ctx context.Context, ref string, opts LogsOptions, fn func(LogLine) error) error {
	path, err := servicePath(ref, "/logs")
	if err != nil {
		return err
	}
	return c.streamLogs(ctx, path, opts, fn)
}

// TaskLogs is ServiceLogs for one task, by ID, unique ID prefix or name.
func (c *Client) TaskLogs(ctx context.Context, ref string, opts LogsOptions, fn func(LogLine) error) error {
	if ref == "" {
		return fmt.Errorf("api: empty task ID")
	}
	return c.streamLogs(ctx, "/v1/tasks/"+url.PathEscape(ref)+"/logs", opts, fn)
}

func (c *Client) streamLogs(ctx context.Context, path string, opts LogsOptions, fn func(LogLine) error) error {
	q := url.Values{}
	if opts.Follow {
		q.Set("follow", "1")
	}
	if opts.Tail != "" {
		q.Set("tail", opts.Tail)
	}
	if opts.Since != "" {
		q.Set("since", opts.Since)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://xo"+path, nil)
	if err != nil {
		return fmt.Errorf("api: GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/x-ndjson")
	req.Header.Set("User-Agent", "xo/"+Version)
	// No overall timeout: a followed stream lasts until ctx ends.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		return c.transportError(http.MethodGet, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var l LogLine
		err := dec.Decode(&l)
		switch {
		case err != nil && ctx.Err() != nil: // cut by the reader, even at a clean end
			return ctx.Err()
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("api: GET %s: read logs: %w", path, err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
}

func servicePath(ref, suffix string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("api: empty service name or ID")
	}
	return "/v1/services/" + url.PathEscape(ref) + suffix, nil
}
