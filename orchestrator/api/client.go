package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Error classes a Client returns; test them with errors.Is.
var (
	// ErrNotFound: the agent answered 404 (no such network, ...).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the agent answered 409 (already in a cluster, network
	// in use, ...).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the agent answered 400 (bad request, ambiguous name).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the agent answered 503 (no raft leader) for longer
	// than a write is retried.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnreachable: nothing answers on the socket.
	ErrUnreachable = errors.New("xo agent unreachable")
)

// Client talks to one agent over its unix socket. It is safe for
// concurrent use.
//
// Calls that go through the cluster's leader (cluster, node and network
// changes, and join tokens) are retried with a short back-off for up to
// 20 s while the agent answers 503 Service Unavailable (no raft leader
// yet, or the leader is changing); any other error returns at once.
type Client struct {
	socket string
	http   *http.Client
	// retryFor bounds how long writes are retried while the agent
	// answers 503.
	retryFor time.Duration
}

// NewClient returns a client for the agent listening on socket.
func NewClient(socket string) *Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	return &Client{
		socket:   socket,
		http:     &http.Client{Transport: tr, Timeout: time.Minute},
		retryFor: writeRetry,
	}
}

// Socket returns the socket the client dials.
func (c *Client) Socket() string { return c.socket }

// Version returns the agent's build information.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	err := c.get(ctx, "/v1/version", &v)
	return v, err
}

// Info describes the agent and its view of the cluster.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	err := c.get(ctx, "/v1/info", &i)
	return i, err
}

// Networks lists every network, ordered by name then ID.
func (c *Client) Networks(ctx context.Context) ([]Network, error) {
	var ns []Network
	err := c.get(ctx, "/v1/networks", &ns)
	return ns, err
}

// Network returns one network by name, full ID or unique ID prefix.
func (c *Client) Network(ctx context.Context, ref string) (Network, error) {
	var n Network
	if ref == "" {
		return n, fmt.Errorf("api: empty network name or ID")
	}
	err := c.get(ctx, "/v1/networks/"+url.PathEscape(ref), &n)
	return n, err
}

func (c *Client) get(ctx context.Context, path string, out any) error {
	return c.call(ctx, http.MethodGet, path, nil, out)
}

// call sends one request. in, when not nil, is sent as JSON; out, when not
// nil, receives the JSON answer.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://xo"+path, body)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "xo/"+Version)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// transportError turns a failed round trip into an actionable message.
func (c *Client) transportError(method, path string, err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || errors.Is(err, context.Canceled) {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return &dialError{cause: err, msg: fmt.Sprintf(
			"permission denied on the xo agent socket %s: run as root or as a member of the socket's group", c.socket)}
	}
	return &dialError{cause: err, msg: fmt.Sprintf(
		"cannot reach the xo agent at %s: is \"xo agent\" running? (set --api-socket or %s)", c.socket, EnvSocket)}
}

type dialError struct {
	cause error
	msg   string
}

func (e *dialError) Error() string   { return e.msg }
func (e *dialError) Unwrap() []error { return []error{ErrUnreachable, e.cause} }

// statusError is a non-2xx answer; its text is the server's message.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func (e *statusError) Unwrap() error {
	switch e.code {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest:
		return ErrInvalid
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	return nil
}

func decodeError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e Error
	msg := ""
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
	} else if s := strings.TrimSpace(string(body)); s != "" {
		msg = s
	} else {
		msg = http.StatusText(resp.StatusCode)
	}
	return &statusError{code: resp.StatusCode, msg: msg}
}
