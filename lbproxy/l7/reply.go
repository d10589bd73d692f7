package l7

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"github.com/xoverlay/xoverlay/lbproxy/l7/upstream"
)

var (
	textPlain = []string{"text/plain; charset=utf-8"}
	noSniff   = []string{"nosniff"}
)

// writeText answers code with a short text body; it returns the body's
// length.
func writeText(w http.ResponseWriter, code int, msg string) int64 {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(len(msg))}
	w.WriteHeader(code)
	n, _ := io.WriteString(w, msg)
	return int64(n)
}

// reply answers the request from the proxy itself.
func (x *exchange) reply(code int, msg string) {
	x.written = writeText(x.w, code, msg)
	x.status, x.backend = code, nil
}

// replyFailure answers a request no backend answered: 504 when the last
// try timed out, else 502.
func (x *exchange) replyFailure() {
	name := quote(x.u.name)
	switch {
	case x.tries == 0:
		x.reply(http.StatusBadGateway, "xo: service "+name+": no backend is available (all are down after failures, draining, or at their connection cap)\n")
	case x.timeout:
		x.reply(http.StatusGatewayTimeout, "xo: service "+name+": the backend did not answer in time ("+
			strconv.Itoa(x.tries)+" tried)\n")
	default:
		x.reply(http.StatusBadGateway, "xo: service "+name+": no backend answered ("+strconv.Itoa(x.tries)+
			" tried, last: "+describe(x.err)+")\n")
	}
}

// describe names a backend failure for a client, without addresses.
func describe(err error) string {
	var se statusError
	switch {
	case err == nil:
		return "no error"
	case errors.As(err, &se):
		return se.Error()
	case isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.As(err, new(*net.DNSError)):
		return "name not resolved"
	case errors.As(err, new(*net.OpError)):
		return "connection failed"
	}
	return "invalid answer"
}

// statusError is the status of an answer that was retried.
type statusError int

func (e statusError) Error() string {
	return "answered " + strconv.Itoa(int(e)) + " " + http.StatusText(int(e))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// ipKey is the ip_hash key of a client address.
func ipKey(ip string) upstream.Key {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return upstream.NoKey
	}
	return upstream.KeyIP(a)
}

// quote is strconv.Quote, for messages.
func quote(s string) string { return strconv.Quote(s) }
