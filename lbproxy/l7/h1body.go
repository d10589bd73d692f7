package l7

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
)

// limitedReader bounds what a request's headers may read.
type limitedReader struct {
	r      io.Reader
	remain int64
}

var errHeaderTooLarge = errors.New("request headers too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.remain <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.remain {
		p = p[:l.remain]
	}
	n, err := l.r.Read(p)
	l.remain -= int64(n)
	return n, err
}

// expectContinue makes the first read of the body of an "Expect:
// 100-continue" request send the interim answer. It reports whether the
// body is such a body.
func (c *h1conn) expectContinue(r *http.Request) bool {
	if len(r.Header["Expect"]) == 0 {
		return false
	}
	delete(r.Header, "Expect")
	if r.Body == http.NoBody || !r.ProtoAtLeast(1, 1) {
		return false
	}
	r.Body = &continueReader{c: c, body: r.Body}
	return true
}

// continueReader sends "100 Continue" before the first read of a body.
type continueReader struct {
	c    *h1conn
	body io.ReadCloser
	sent bool
}

func (cr *continueReader) Read(p []byte) (int, error) {
	if !cr.sent {
		cr.sent = true
		cr.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := cr.c.bw.Flush(); err != nil {
			return 0, err
		}
	}
	return cr.body.Read(p)
}

func (cr *continueReader) Close() error { return cr.body.Close() }

// drainBody reads what the proxy left of a request body so the next
// request can be read; it reports whether the connection can go on.
func drainBody(r *http.Request, continued bool) bool {
	if r.Body == http.NoBody {
		return true
	}
	if cr, ok := r.Body.(*continueReader); ok && continued && !cr.sent {
		return false // the client waits for 100 Continue: the body never comes
	}
	n, err := io.CopyN(io.Discard, r.Body, maxDrainBody+1)
	return err == io.EOF && n <= maxDrainBody
}

// prefixConn is a connection whose first bytes were already read into
// a buffer: reads return them first.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func newPrefixConn(c net.Conn, buffered []byte) net.Conn {
	return &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), c)}
}
