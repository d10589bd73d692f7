package l7

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// entry is what an access log records of a request besides the request
// itself.
type entry struct {
	start, end time.Time
	status     int
	bytes      int64
	ip         string
	service    string
	backend    string
	tries      int
}

// accessLog writes one record per request.
type accessLog interface {
	log(r *http.Request, e entry)
}

// lineLog writes combined-log-format lines with the proxy's fields
// appended:
//
//	IP - - [02/Jan/2006:15:04:05 -0700] "GET /p HTTP/1.1" 200 512 "referer" "agent" host="h" service="s" backend="a:80" tries=1 rt=0.000512
type lineLog struct {
	mu   sync.Mutex
	w    io.Writer
	bufs sync.Pool
}

func newLineLog(w io.Writer) *lineLog {
	return &lineLog{w: w, bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

func (l *lineLog) log(r *http.Request, e entry) {
	bp := l.bufs.Get().(*[]byte)
	b := appendLine((*bp)[:0], r, e)
	l.mu.Lock()
	l.w.Write(b)
	l.mu.Unlock()
	*bp = b
	l.bufs.Put(bp)
}

func appendLine(b []byte, r *http.Request, e entry) []byte {
	b = append(b, e.ip...)
	b = append(b, " - - ["...)
	b = e.start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendEscaped(b, r.RequestURI)
	b = append(b, ' ')
	b = appendEscaped(b, r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.bytes, 10)
	b = appendQuoted(b, " ", headerValue(r, "Referer"))
	b = appendQuoted(b, " ", headerValue(r, "User-Agent"))
	b = appendQuoted(b, " host=", r.Host)
	b = appendQuoted(b, " service=", e.service)
	b = appendQuoted(b, " backend=", e.backend)
	b = append(b, " tries="...)
	b = strconv.AppendInt(b, int64(e.tries), 10)
	b = append(b, " rt="...)
	b = strconv.AppendFloat(b, e.end.Sub(e.start).Seconds(), 'f', 6, 64)
	return append(b, '\n')
}

func headerValue(r *http.Request, k string) string {
	if vv := r.Header[k]; len(vv) > 0 {
		return vv[0]
	}
	return ""
}

func appendQuoted(b []byte, prefix, s string) []byte {
	b = append(b, prefix...)
	b = append(b, '"')
	if s == "" {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, s)
	}
	return append(b, '"')
}

// appendEscaped appends s with quotes, backslashes, control and
// non-ASCII bytes as \xHH (as nginx does), so a client cannot forge
// lines or fields.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

// slogLog writes one Info record per request.
type slogLog struct{ l *slog.Logger }

func (l slogLog) log(r *http.Request, e entry) {
	l.l.LogAttrs(context.Background(), slog.LevelInfo, "http request",
		slog.String("remote", e.ip),
		slog.String("method", r.Method),
		slog.String("uri", r.RequestURI),
		slog.String("proto", r.Proto),
		slog.String("host", r.Host),
		slog.Int("status", e.status),
		slog.Int64("bytes", e.bytes),
		slog.String("service", e.service),
		slog.String("backend", e.backend),
		slog.Int("tries", e.tries),
		slog.Duration("duration", e.end.Sub(e.start)),
		slog.String("referer", headerValue(r, "Referer")),
		slog.String("user_agent", headerValue(r, "User-Agent")),
	)
}
