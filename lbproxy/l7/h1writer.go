package l7

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// statusLines are the HTTP/1.1 status lines by code.
var statusLines = func() (lines [600]string) {
	for code := 100; code < len(lines); code++ {
		lines[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n"
	}
	return lines
}()

// h1writer is the http.ResponseWriter of the proxy's own HTTP/1.1
// connections: headers go straight from the map to the connection's
// buffer, the map is reused from request to request, and the framing
// (Content-Length, chunked, or close) follows the answer and the
// client's protocol version.
type h1writer struct {
	c          *h1conn
	req        *http.Request
	header     http.Header
	wrote      bool
	bodyless   bool  // HEAD, 1xx, 204, 304
	chunked    bool  // chunked framing
	length     int64 // declared Content-Length, -1: none
	written    int64
	closeAfter bool     // the connection ends after this answer
	vals       []string // backing store of the header values, reused
}

// addHeader stores a backend's header field without a slice of its own.
func (w *h1writer) addHeader(h http.Header, k, v string) {
	if old, ok := h[k]; ok {
		h[k] = append(old, v)
		return
	}
	w.vals = append(w.vals, v)
	n := len(w.vals)
	h[k] = w.vals[n-1 : n : n]
}

func (w *h1writer) reset(req *http.Request) {
	clear(w.header)
	clear(w.vals)
	*w = h1writer{c: w.c, req: req, header: w.header, length: -1, vals: w.vals[:0]}
}

func (w *h1writer) Header() http.Header { return w.header }

func (w *h1writer) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 100 || code > 999 {
		panic("l7: invalid status code " + strconv.Itoa(code))
	}
	bw := w.c.bw
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An interim answer (103 Early Hints): the final one follows.
		bw.WriteString(statusLine(code))
		w.writeFields(bw)
		bw.WriteString("\r\n")
		return
	}
	w.wrote = true
	r := w.req
	w.bodyless = r.Method == http.MethodHead || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
	if cl := w.header["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
	if code == http.StatusNoContent || code < 200 {
		delete(w.header, "Content-Length")
		w.length = -1
	}
	http11 := r.ProtoAtLeast(1, 1)
	if !w.bodyless && w.length < 0 {
		if http11 {
			w.chunked = true
		} else {
			w.closeAfter = true // HTTP/1.0: the end of the body is the end of the connection
		}
	}
	if r.Close || w.c.s.closing.Load() {
		w.closeAfter = true
	}
	bw.WriteString(statusLine(code))
	w.writeFields(bw)
	if _, ok := w.header["Date"]; !ok {
		bw.WriteString(*w.c.s.wd.date.Load())
	}
	switch {
	case w.closeAfter:
		bw.WriteString("Connection: close\r\n")
	case !http11:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	bw.WriteString("\r\n")
}

// writeFields writes the header fields, without trailers and framing.
func (w *h1writer) writeFields(bw *bufio.Writer) {
	for k, vv := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) || k == "Transfer-Encoding" || k == "Connection" {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

func statusLine(code int) string {
	if code < len(statusLines) {
		return statusLines[code]
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " \r\n"
}

func (w *h1writer) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.bodyless {
		return len(p), nil
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	bw := w.c.bw
	if w.chunked {
		if len(p) == 0 {
			return 0, nil
		}
		var num [16]byte
		bw.Write(strconv.AppendInt(num[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	n, err := bw.Write(p)
	w.written += int64(n)
	if err == nil && w.chunked {
		_, err = bw.WriteString("\r\n")
	}
	return n, err
}

// Flush sends what is buffered.
func (w *h1writer) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	w.c.bw.Flush()
}

// Hijack hands the connection over (for upgrades): the connection
// loop forgets it.
func (w *h1writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.c.hijacked = true
	return w.c.nc, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

// finish ends the answer (the last chunk and the trailers) and flushes;
// it reports whether the connection can carry another request.
func (w *h1writer) finish() bool {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for k, vv := range w.header {
			name, ok := strings.CutPrefix(k, http.TrailerPrefix)
			if !ok {
				continue
			}
			for _, v := range vv {
				bw.WriteString(name)
				bw.WriteString(": ")
				bw.WriteString(v)
				bw.WriteString("\r\n")
			}
		}
		bw.WriteString("\r\n")
	}
	if w.length >= 0 && !w.bodyless && w.written < w.length {
		w.closeAfter = true
	}
	return bw.Flush() == nil && !w.closeAfter
}
