package api

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Retry policy of writes while the agent answers 503: the cluster has no
// raft leader yet, or the leader is changing.
const (
	writeRetry    = 20 * time.Second
	firstBackoff  = 100 * time.Millisecond
	maxBackoff    = time.Second
	backoffFactor = 2
)

// write is call retried while the agent answers 503, for up to
// c.retryFor. Any other answer or error returns at once.
func (c *Client) write(ctx context.Context, method, path string, in, out any) error {
	deadline := time.Now().Add(c.retryFor)
	wait := firstBackoff
	for {
		err := c.call(ctx, method, path, in, out)
		if !errors.Is(err, ErrUnavailable) || time.Now().Add(wait).After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("api: %s %s: %w (last answer: %v)", method, path, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*backoffFactor, maxBackoff)
	}
}
