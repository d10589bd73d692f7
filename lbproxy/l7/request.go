package l7

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"
)

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeRequest sends x's request on w (a backend connection's buffer)
// as HTTP/1.1: the request line, the client's end-to-end headers, the
// forwarding headers, framing of the proxy's own, then the body.
func (x *exchange) writeRequest(w *bufio.Writer, backendAddr string) error {
	r := x.r
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' && uri != "*" {
		uri = r.URL.RequestURI() // absolute-form target: send the origin form
	}
	host := r.Host
	if host == "" {
		host = backendAddr
	}
	w.WriteString(r.Method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")

	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if skipRequestHeader(k) || len(conn) > 0 && connectionListed(conn, k) {
			continue
		}
		for _, v := range vv {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("X-Forwarded-For: ")
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		for _, v := range prior {
			w.WriteString(v)
			w.WriteString(", ")
		}
	}
	w.WriteString(x.ip)
	if r.TLS != nil {
		w.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	} else {
		w.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ")
	}
	w.WriteString(r.Host)
	w.WriteString("\r\nX-Real-IP: ")
	w.WriteString(x.ip)
	w.WriteString("\r\n")
	if x.upgrade != "" {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.WriteString(x.upgrade)
		w.WriteString("\r\n")
	}

	b := &x.body
	switch {
	case b.kind == bodyBuffered:
		writeLength(w, int64(len(b.data)))
		w.Write(b.data)
	case b.kind == bodyStream && b.size >= 0:
		writeLength(w, b.size)
		if err := copyBody(w, b, b.size); err != nil {
			return err
		}
	case b.kind == bodyStream:
		w.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		if err := copyChunked(w, b); err != nil {
			return err
		}
	case r.ContentLength == 0 && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch || len(r.Header["Content-Length"]) > 0):
		w.WriteString("Content-Length: 0\r\n\r\n")
	default:
		w.WriteString("\r\n")
	}
	return w.Flush()
}

func writeLength(w *bufio.Writer, n int64) {
	var num [20]byte
	w.WriteString("Content-Length: ")
	w.Write(strconv.AppendInt(num[:0], n, 10))
	w.WriteString("\r\n\r\n")
}

// copyBody copies exactly n bytes of body; fewer is an error.
func copyBody(w *bufio.Writer, body io.Reader, n int64) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for n > 0 {
		k, err := body.Read(buf[:min(int64(len(buf)), n)])
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			n -= int64(k)
		}
		if err == io.EOF && n > 0 {
			return io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// copyChunked sends body in chunked encoding.
func copyChunked(w *bufio.Writer, body io.Reader) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var num [16]byte
	for {
		k, err := body.Read(buf)
		if k > 0 {
			w.Write(strconv.AppendInt(num[:0], int64(k), 16))
			w.WriteString("\r\n")
			w.Write(buf[:k])
			if _, werr := w.WriteString("\r\n"); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_, err = w.WriteString("0\r\n\r\n")
			return err
		}
		if err != nil {
			return err
		}
	}
}
