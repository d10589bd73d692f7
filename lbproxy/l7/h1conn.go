package l7

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// h2Preface opens every HTTP/2 connection with prior knowledge (h2c).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// maxDrainBody is the most of a request body left unread by the proxy
// that is read and thrown away to keep the client's connection.
const maxDrainBody = 256 << 10

// h1conn is one client connection served by the proxy's own HTTP/1.1
// loop (net/http's server would cost a goroutine, a context and a
// header copy per request). A connection that opens with the HTTP/2
// preface is handed to net/http's HTTP/2 server instead.
type h1conn struct {
	s        *Server
	nc       net.Conn
	lr       limitedReader
	br       *bufio.Reader
	bw       *bufio.Writer
	w        h1writer
	rq       h1request
	remote   string
	ctx      context.Context
	cancel   context.CancelFunc
	hijacked bool

	// deadline (unix nanos) after which the watchdog closes the
	// connection: while idle, reading headers or waiting on the client
	// during a request; 0 otherwise; closedByWatchdog once it did.
	deadline atomic.Int64
	// idle is true while the connection waits for a request: Shutdown
	// closes it then.
	idle atomic.Bool
}

const closedByWatchdog = -1

func (s *Server) newH1Conn(nc net.Conn) *h1conn {
	c := &h1conn{s: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.lr = limitedReader{r: nc, remain: math.MaxInt64}
	c.br = bufio.NewReaderSize(&c.lr, 4096)
	c.bw = bufio.NewWriterSize(nc, 4096)
	c.w = h1writer{c: c, header: make(http.Header, 8)}
	c.rq.header = make(http.Header, 8)
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	return c
}

// arm sets the watchdog deadline d from now; it fails once the watchdog
// closed the connection.
func (c *h1conn) arm(deadline int64) bool {
	for {
		d := c.deadline.Load()
		if d == closedByWatchdog {
			return false
		}
		if c.deadline.CompareAndSwap(d, deadline) {
			return true
		}
	}
}

// expire closes the connection if its deadline passed (the watchdog).
func (c *h1conn) expire(now int64) {
	if d := c.deadline.Load(); d > 0 && now > d && c.deadline.CompareAndSwap(d, closedByWatchdog) {
		c.nc.Close()
	}
}

// closeIdle closes the connection if it waits for a request (Shutdown).
func (c *h1conn) closeIdle() {
	if d := c.deadline.Load(); c.idle.Load() && d > 0 && c.deadline.CompareAndSwap(d, closedByWatchdog) {
		c.nc.Close()
	}
}

// waitClient arms the deadline for one wait on the client during a
// request (reading its body, writing its answer).
func (c *h1conn) waitClient() { c.arm(c.s.wd.deadline(c.s.opts.ClientTimeout)) }

// serve runs the connection's request loop until either side ends it.
func (c *h1conn) serve() {
	s := c.s
	defer func() {
		c.cancel()
		if !c.hijacked {
			c.nc.Close()
		}
	}()
	first := true
	for {
		// Wait for a request: the first within ReadHeaderTimeout of the
		// connection, the next ones within IdleTimeout.
		wait := s.opts.IdleTimeout
		if first {
			wait = s.opts.ReadHeaderTimeout
		} else if s.closing.Load() {
			return
		}
		if !c.arm(s.wd.deadline(wait)) {
			return
		}
		c.lr.remain = int64(s.opts.MaxHeaderBytes) + 4096 // what the request's head may read
		c.idle.Store(true)
		_, err := c.br.Peek(1)
		c.idle.Store(false)
		if err != nil {
			return
		}
		if first {
			first = false
			if c.isH2() {
				s.h2.serve(c)
				return
			}
		}
		if !c.arm(s.wd.deadline(s.opts.ReadHeaderTimeout)) {
			return
		}
		req, err := c.rq.readRequest(c.br, s.opts.MaxHeaderBytes)
		c.lr.remain = math.MaxInt64
		if err != nil {
			c.badRequest(err)
			return
		}
		if !c.arm(0) {
			return
		}
		if code, msg := checkRequest(req); code != 0 {
			c.reject(code, msg)
			return
		}
		continued := c.expectContinue(req)
		req.RemoteAddr = c.remote
		c.w.reset(req)
		if s.handleH1(&c.w, req, c.ctx) || c.hijacked {
			return
		}
		c.waitClient()
		if !c.w.finish() || req.Close {
			return
		}
		if !drainBody(req, continued) {
			return
		}
	}
}

// isH2 reports whether the connection opens with the HTTP/2 preface.
func (c *h1conn) isH2() bool {
	b, _ := c.br.Peek(1)
	if len(b) == 0 || b[0] != 'P' {
		return false
	}
	b, err := c.br.Peek(len("PRI * HTTP/2.0"))
	if err != nil || string(b) != h2Preface[:len(b)] {
		return false
	}
	b, err = c.br.Peek(len(h2Preface))
	return err == nil && string(b) == h2Preface
}

// handleH1 serves one request; it reports whether the connection must
// be cut (an answer broke off, or the handler panicked).
func (s *Server) handleH1(w *h1writer, r *http.Request, ctx context.Context) (cut bool) {
	defer func() {
		if p := recover(); p != nil {
			cut = true
			if p != http.ErrAbortHandler {
				s.log.Error("panic serving a request", "panic", p, "method", r.Method, "uri", r.RequestURI)
			}
		}
	}()
	return s.handle(w, r, ctx)
}

// badRequest answers a request that could not be read: 431 for headers
// over the limit, 400 for a malformed request, nothing when the client
// went away or was too slow.
func (c *h1conn) badRequest(err error) {
	var ne net.Error
	var bad *badRequest
	switch {
	case c.lr.remain <= 0 || errors.Is(err, errHeaderTooLarge) || errors.Is(err, errHeadTooLarge):
		c.reject(http.StatusRequestHeaderFieldsTooLarge, "request headers larger than the proxy's limit")
	case errors.As(err, &bad):
		c.reject(bad.code, bad.msg)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne):
	default:
		c.reject(http.StatusBadRequest, "malformed HTTP request")
	}
}

// reject answers with code and closes the connection. It is counted
// with the requests no route matched (service and backend empty).
func (c *h1conn) reject(code int, msg string) {
	c.s.m.unrouted.inc(code)
	body := statusLine(code)[len("HTTP/1.1 "):]
	body = strings.TrimSuffix(body, "\r\n") + ": " + msg + "\n"
	c.bw.WriteString(statusLine(code))
	c.bw.WriteString("Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ")
	c.bw.WriteString(strconv.Itoa(len(body)))
	c.bw.WriteString("\r\n\r\n")
	c.bw.WriteString(body)
	c.bw.Flush()
}

// checkRequest applies the checks net/http's server makes beyond
// http.ReadRequest; it returns 0 for a good request.
func checkRequest(r *http.Request) (int, string) {
	if r.Method == http.MethodConnect {
		return http.StatusMethodNotAllowed, "CONNECT is not supported: this is a reverse proxy, not a forward proxy"
	}
	if r.Host == "" && r.ProtoAtLeast(1, 1) && r.Method != http.MethodConnect {
		return http.StatusBadRequest, "missing Host header"
	}
	if !validHostHeader(r.Host) {
		return http.StatusBadRequest, "malformed Host header"
	}
	if ex := r.Header["Expect"]; len(ex) > 0 && !(len(ex) == 1 && strings.EqualFold(ex[0], "100-continue")) {
		return http.StatusExpectationFailed, "only Expect: 100-continue is supported"
	}
	return 0, ""
}

// validHostHeader reports whether h has only the characters of a host,
// an IP literal and a port.
func validHostHeader(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=:[]%", c) >= 0) {
			return false
		}
	}
	return true
}
