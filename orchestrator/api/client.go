package api

import (
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
	// ErrUnreachable: nothing answers on the socket.
	ErrUnreachable = errors.New("xo agent unreachable")
)

// Client talks to one agent over its unix socket. It is safe for
// concurrent use.
type Client struct {
	socket string
	http   *http.Client
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
	return &Client{socket: socket, http: &http.Client{Transport: tr, Timeout: time.Minute}}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://xo"+path, nil)
	if err != nil {
		return fmt.Errorf("api: GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "xo/"+Version)
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: GET %s: decode answer: %w", path, err)
	}
	return nil
}

// transportError turns a failed round trip into an actionable message.
func (c *Client) transportError(path string, err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || errors.Is(err, context.Canceled) {
		return fmt.Errorf("api: GET %s: %w", path, err)
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
	if e.code == http.StatusNotFound {
		return ErrNotFound
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
