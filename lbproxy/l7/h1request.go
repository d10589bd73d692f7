package l7

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
)

// maxRequestFields bounds the header fields of a request.
const maxRequestFields = 500

// badRequest is a request the proxy refuses: the status and why.
type badRequest struct {
	code int
	msg  string
}

func (e *badRequest) Error() string { return e.msg }

func reqError(code int, format string, args ...any) error {
	return &badRequest{code: code, msg: fmt.Sprintf(format, args...)}
}

// h1request holds the parts of a request its connection reuses from
// one request to the next: reading a request allocates little more
// than its strings.
type h1request struct {
	req    http.Request
	url    url.URL
	header http.Header
	vals   []string
	length lengthBody
}

var (
	chunkedTE = []string{"chunked"}
	protos    = [2]string{"HTTP/1.0", "HTTP/1.1"}
)

// methods interns the frequent methods.
var methods = map[string]string{
	"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "DELETE": "DELETE",
	"OPTIONS": "OPTIONS", "PATCH": "PATCH", "CONNECT": "CONNECT", "TRACE": "TRACE",
}

// readRequest parses one request head from br (RFC 9112), strictly: a
// proxy that reads a request differently from its backends opens the
// door to request smuggling, so anything ambiguous is refused (both
// Content-Length and Transfer-Encoding, differing lengths, folded or
// malformed lines, control characters). The body is framed by the
// proxy again when sent on, so a backend never parses the client's
// framing.
func (h *h1request) readRequest(br *bufio.Reader, maxHead int) (*http.Request, error) {
	clear(h.header)
	clear(h.vals)
	h.vals = h.vals[:0]
	h.url = url.URL{}
	h.req = http.Request{Header: h.header, URL: &h.url, Body: http.NoBody}
	r := &h.req
	budget := maxHead

	line, err := readLine(br, &budget)
	for skip := 0; err == nil && len(line) == 0 && skip < 4; skip++ {
		line, err = readLine(br, &budget) // empty lines before a request are allowed
	}
	if err != nil {
		return nil, err
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return nil, reqError(http.StatusBadRequest, "malformed request line")
	}
	method, target, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if !validFieldName(method) {
		return nil, reqError(http.StatusBadRequest, "malformed method")
	}
	if m, ok := methods[string(method)]; ok {
		r.Method = m
	} else {
		r.Method = string(method)
	}
	switch string(version) {
	case "HTTP/1.1":
		r.ProtoMinor = 1
	case "HTTP/1.0":
	default:
		if len(version) == 8 && string(version[:5]) == "HTTP/" && version[6] == '.' {
			return nil, reqError(http.StatusHTTPVersionNotSupported, "use HTTP/1.0, HTTP/1.1 or HTTP/2")
		}
		return nil, reqError(http.StatusBadRequest, "malformed request line")
	}
	r.ProtoMajor, r.Proto = 1, protos[r.ProtoMinor]
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return nil, reqError(http.StatusBadRequest, "malformed request target")
		}
	}
	r.RequestURI = string(target)
	if err := h.parseTarget(r); err != nil {
		return nil, err
	}

	hosts, lengths, chunked := 0, 0, false
	for n := 0; ; n++ {
		line, err = readLine(br, &budget)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		if n >= maxRequestFields {
			return nil, reqError(http.StatusRequestHeaderFieldsTooLarge, "more than %d header fields", maxRequestFields)
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, reqError(http.StatusBadRequest, "folded header line")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			return nil, reqError(http.StatusBadRequest, "malformed header line")
		}
		value := trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return nil, reqError(http.StatusBadRequest, "control character in header %q", line[:colon])
		}
		key := canonicalKey(line[:colon])
		switch key {
		case "Host":
			hosts++
			if r.Host == "" {
				r.Host = string(value)
			}
			continue // net/http's Request keeps Host out of Header too
		case "Content-Length":
			n, ok := parseLength(value)
			if !ok || lengths > 0 && n != r.ContentLength {
				return nil, reqError(http.StatusBadRequest, "malformed or conflicting Content-Length")
			}
			lengths++
			r.ContentLength = n
		case "Transfer-Encoding":
			if chunked || !bytes.EqualFold(value, []byte("chunked")) || r.ProtoMinor == 0 {
				return nil, reqError(http.StatusNotImplemented, "only Transfer-Encoding: chunked (once, HTTP/1.1) is supported")
			}
			chunked = true
			continue
		case "Connection":
			if hasTokenBytes(value, "close") {
				r.Close = true
			}
		}
		h.add(key, string(value))
	}
	if hosts > 1 {
		return nil, reqError(http.StatusBadRequest, "more than one Host header")
	}
	if r.URL.Host != "" {
		r.Host = r.URL.Host // absolute form: the target's host wins (RFC 9112 3.2.2)
	}
	if r.ProtoMinor == 0 && !hasToken(h.header["Connection"], "keep-alive") {
		r.Close = true
	}
	switch {
	case chunked && lengths > 0:
		return nil, reqError(http.StatusBadRequest, "both Content-Length and Transfer-Encoding")
	case chunked:
		r.ContentLength, r.TransferEncoding = -1, chunkedTE
		r.Body = &chunkedBody{br: br, r: httputil.NewChunkedReader(br)}
	case r.ContentLength > 0:
		h.length = lengthBody{br: br, remain: r.ContentLength}
		r.Body = &h.length
	}
	return r, nil
}

// add stores a header value without a slice of its own.
func (h *h1request) add(k, v string) {
	if old, ok := h.header[k]; ok {
		h.header[k] = append(old, v)
		return
	}
	h.vals = append(h.vals, v)
	n := len(h.vals)
	h.header[k] = h.vals[n-1 : n : n]
}

// parseTarget fills r.URL from r.RequestURI.
func (h *h1request) parseTarget(r *http.Request) error {
	t := r.RequestURI
	switch {
	case r.Method == http.MethodConnect:
		h.url.Host = t // authority form
		return nil
	case t == "*":
		h.url.Path = "*"
		return nil
	case t[0] == '/' && !bytesHasPercent(t):
		path, query, _ := cut(t, '?')
		h.url.Path, h.url.RawQuery = path, query
		return nil
	}
	u, err := url.ParseRequestURI(t)
	if err != nil {
		return reqError(http.StatusBadRequest, "malformed request target")
	}
	h.url = *u
	return nil
}

func bytesHasPercent(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			return true
		}
	}
	return false
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// hasTokenBytes reports whether a comma-separated value has token.
func hasTokenBytes(v []byte, token string) bool {
	for tok := range bytes.SplitSeq(v, []byte(",")) {
		if bytes.EqualFold(trimOWS(tok), []byte(token)) {
			return true
		}
	}
	return false
}

// lengthBody is a request body of known length.
type lengthBody struct {
	br     *bufio.Reader
	remain int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.br.Read(p)
	b.remain -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the client stopped short
	}
	if b.remain == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }

// chunkedBody is a chunked request body; its trailers are read and
// dropped (the proxy does not forward request trailers).
type chunkedBody struct {
	br  *bufio.Reader
	r   io.Reader
	eof bool
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		budget := maxResponseHead
		for {
			line, lerr := readLine(b.br, &budget)
			if lerr != nil {
				return n, lerr
			}
			if len(line) == 0 {
				break
			}
		}
		b.eof = true
	}
	return n, err
}

func (b *chunkedBody) Close() error { return nil }
