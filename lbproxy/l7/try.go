package l7

import (
	"errors"
	"io"
	"net/http"

	"github.com/xoverlay/xoverlay/lbproxy/l7/connpool"
)

// maxDiscard is the largest answer body thrown away (before a retry)
// to keep its connection; a larger one closes the connection.
const maxDiscard = 64 << 10

// try sends the request to b and, when b answers in a way that is not
// retried, passes the answer to the client.
func (x *exchange) try(b *backend) tryResult {
	ctx := x.ctx
	c, err := b.pool.Get(ctx)
	if err != nil {
		return x.connectFailed(b, err)
	}
	res := x.roundTrip(b, c)
	if res == tryStale {
		// The backend closed the idle connection; that is no failure of
		// the backend. Once more on a new connection.
		if c, err = b.pool.Dial(ctx); err != nil {
			return x.connectFailed(b, err)
		}
		res = x.roundTrip(b, c)
	}
	return res
}

func (x *exchange) connectFailed(b *backend, err error) tryResult {
	if x.ctx.Err() != nil {
		x.clientGone()
		return tryDone
	}
	if errors.Is(err, connpool.ErrClosed) {
		x.err = err
		return tryFail
	}
	x.failure(b, err)
	return tryNext
}

// roundTrip sends the request on c and reads the answer's headers.
func (x *exchange) roundTrip(b *backend, c *connpool.Conn) tryResult {
	now := x.s.opts.Now()
	c.Arm(x.s.backendDeadline())
	x.body.backend = c
	err := x.writeRequest(c.W, b.key.addr)
	x.body.backend = nil
	if err != nil {
		c.Close()
		switch {
		case x.body.err != nil:
			x.reply(http.StatusBadRequest, "xo: reading the request body: "+x.body.err.Error()+"\n")
			return tryDone
		case x.ctx.Err() != nil:
			x.clientGone()
			return tryDone
		case x.body.replayable() && c.Reused:
			return tryStale
		case x.body.replayable():
			// The backend did not take the whole request: it cannot have
			// acted on it, whatever the method.
			x.failure(b, err)
			return tryNext
		}
		x.failure(b, err)
		return tryFail
	}
	h := x.w.Header()
	resp := &x.resp
	_, err = c.R.Peek(1)
	silent := err != nil // not a byte of an answer
	if err == nil {
		err = readAnswer(c.R, x.r.Method, h, x.sink, resp)
	}
	c.Arm(0)
	if err != nil {
		c.Close()
		clear(h)
		switch {
		case x.ctx.Err() != nil:
			x.clientGone()
			return tryDone
		case silent && c.Reused && x.idempotent && x.body.replayable():
			return tryStale
		}
		x.failure(b, err)
		if x.idempotent && x.body.replayable() {
			return tryNext
		}
		return tryFail
	}
	switch resp.status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		b.peer.Fail(now)
		if x.idempotent && x.body.replayable() {
			if i := x.pickAhead(); i >= 0 {
				x.next = i
				x.err, x.timeout = statusError(resp.status), resp.status == http.StatusGatewayTimeout
				clear(h)
				c.Arm(x.s.backendDeadline())
				discard(b, c, resp)
				return tryNext
			}
		}
	default:
		b.peer.Success()
	}
	x.respond(b, c, resp)
	return tryDone
}

// failure records a failed try on b.
func (x *exchange) failure(b *backend, err error) {
	b.peer.Fail(x.s.opts.Now())
	x.err, x.timeout = err, isTimeout(err)
	x.s.log.Debug("backend try failed", "service", x.u.name, "backend", b.key.addr,
		"method", x.r.Method, "uri", x.r.RequestURI, "try", x.tries, "err", err)
}

// clientGone records a request whose client left before its answer.
func (x *exchange) clientGone() {
	x.status = statusClientClosed
	x.backend = nil
}

// statusClientClosed is nginx's 499: the client closed the connection
// before the answer (it is only logged and counted, never sent).
const statusClientClosed = 499

// discard throws an answer away, keeping its connection when its body
// is small.
func discard(b *backend, c *connpool.Conn, resp *backendResponse) {
	if resp.framing != bodyEmpty && (resp.framing != bodyLength || resp.length > maxDiscard) {
		c.Close()
		return
	}
	if _, err := io.Copy(io.Discard, &resp.body); err != nil || resp.close {
		c.Close()
		return
	}
	b.pool.Put(c)
}

// respond passes b's answer to the client.
func (x *exchange) respond(b *backend, c *connpool.Conn, resp *backendResponse) {
	x.backend, x.status = b, resp.status
	if resp.status == http.StatusSwitchingProtocols {
		x.tunnel(c)
		return
	}
	h := x.w.Header()
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // net/http would sniff one otherwise
	}
	x.w.WriteHeader(resp.status)
	if resp.framing == bodyEmpty {
		x.reuse(b, c, resp)
		return
	}
	clientErr, backendErr := x.copyResponse(c, resp)
	switch {
	case backendErr != nil:
		c.Close()
		x.abort = true
		x.s.log.Debug("backend answer broke off", "service", x.u.name, "backend", b.key.addr, "err", backendErr)
	case clientErr != nil:
		c.Close()
		x.abort = true
	default:
		for k, vv := range resp.body.trailer {
			h[http.TrailerPrefix+k] = vv
		}
		x.reuse(b, c, resp)
	}
}

// reuse keeps c for the next request unless the backend ends the
// connection.
func (x *exchange) reuse(b *backend, c *connpool.Conn, resp *backendResponse) {
	if resp.close || !resp.body.done() && resp.framing != bodyEmpty {
		c.Close()
		return
	}
	b.pool.Put(c)
}

// copyResponse streams the answer body to the client, flushing as the
// backend pauses when its length is unknown (event streams, long
// polls). It reports a failure of either side.
func (x *exchange) copyResponse(c *connpool.Conn, resp *backendResponse) (clientErr, backendErr error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var flusher http.Flusher
	if resp.length < 0 {
		flusher, _ = x.w.(http.Flusher)
	}
	for {
		var n int
		var err error
		if c.R.Buffered() == 0 {
			c.Arm(x.s.backendDeadline())
			n, err = resp.body.Read(buf)
			c.Arm(0)
		} else {
			n, err = resp.body.Read(buf)
		}
		if n > 0 {
			if werr := x.send(buf[:n], flusher != nil && c.R.Buffered() == 0, flusher); werr != nil {
				return werr, nil
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// send writes p to the client (and flushes if asked), under the
// client timeout.
func (x *exchange) send(p []byte, flush bool, flusher http.Flusher) error {
	if x.h1 != nil {
		x.h1.c.waitClient()
		defer x.h1.c.arm(0)
	}
	n, err := x.w.Write(p)
	x.written += int64(n)
	if err == nil && flush {
		flusher.Flush()
	}
	return err
}
