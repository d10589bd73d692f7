package l7

import (
	"io"
	"net/http"
	"sync"

	"github.com/xoverlay/xoverlay/lbproxy/l7/connpool"
)

// How a request's body is sent.
const (
	bodyNone     = iota // no body
	bodyBuffered        // read whole before the first try: every try can send it
	bodyStream          // read as it is sent: a try after the first byte was read cannot send it again
)

// requestBody is a request's body as the tries see it. For bodyStream
// it is the reader the tries read, and it records what was read.
type requestBody struct {
	kind int
	data []byte
	buf  *[]byte // the pooled buffer behind data
	src  io.Reader
	size int64 // the length the client announced, -1: chunked
	read int64
	err  error   // the client's read error
	conn *h1conn // the client's HTTP/1 connection (for its timeout), or nil
	// backend is the connection of the current try; its deadline is
	// refreshed after each read, so an upload is bounded per step, not
	// in all.
	backend *connpool.Conn
	srv     *Server
}

var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// prepare sets up r's body. A body of known length up to limit is read
// whole when keep is true (a retry after sending may be needed).
func (b *requestBody) prepare(r *http.Request, keep bool, limit int64) error {
	*b = requestBody{size: r.ContentLength, conn: b.conn, srv: b.srv}
	if r.Body == nil || r.Body == http.NoBody {
		b.kind = bodyNone
		return nil
	}
	if keep && r.ContentLength > 0 && r.ContentLength <= limit {
		b.buf = bodyBufs.Get().(*[]byte)
		if int64(cap(*b.buf)) < r.ContentLength {
			*b.buf = make([]byte, 0, r.ContentLength)
		}
		b.data = (*b.buf)[:r.ContentLength]
		if b.conn != nil {
			b.conn.waitClient()
		}
		_, err := io.ReadFull(r.Body, b.data)
		if b.conn != nil {
			b.conn.arm(0)
		}
		if err != nil {
			b.err = err
			return err
		}
		b.kind = bodyBuffered
		return nil
	}
	b.kind, b.src = bodyStream, r.Body
	return nil
}

// Read reads the client's body for a try, counting. The wait is bounded
// by the client timeout; the backend's deadline starts again after it.
func (b *requestBody) Read(p []byte) (int, error) {
	if b.conn != nil {
		b.conn.waitClient()
	}
	n, err := b.src.Read(p)
	if b.conn != nil {
		b.conn.arm(0)
	}
	if b.backend != nil {
		b.backend.Arm(b.srv.backendDeadline())
	}
	b.read += int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// replayable reports whether another try can send the body whole.
func (b *requestBody) replayable() bool {
	return b.kind != bodyStream || b.read == 0 && b.err == nil
}

// release returns the buffer of a buffered body.
func (b *requestBody) release() {
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
		if cap(*b.buf) <= 1<<20 {
			bodyBufs.Put(b.buf)
		}
		b.buf, b.data = nil, nil
	}
}
