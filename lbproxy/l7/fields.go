package l7

import (
	"bufio"
	"io"
	"net/http"
)

// readLine reads one line without its CRLF (or LF), charging budget.
// The line is valid until the next read of br.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= *budget {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	*budget -= len(line)
	if *budget < 0 {
		return nil, errHeadTooLarge
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseLength parses a Content-Length: decimal digits only.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// tokenTable marks the bytes of an HTTP token (RFC 9110 5.6.2).
var tokenTable = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func validFieldName(b []byte) bool {
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return len(b) > 0
}

// validFieldValue rejects control characters other than tab (obs-text,
// 0x80 and up, is allowed).
func validFieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// commonKeys interns the canonical names of frequent headers, so that
// parsing them allocates nothing.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Date",
		"Etag", "Expires", "Keep-Alive", "Last-Modified", "Link", "Location", "Pragma",
		"Proxy-Authenticate", "Referrer-Policy", "Retry-After", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Trailer", "Transfer-Encoding", "Upgrade", "Vary", "Via",
		"Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options", "X-Powered-By",
		"X-Request-Id", "X-Xss-Protection", "Sec-Websocket-Accept", "Sec-Websocket-Protocol",
		"Sec-Websocket-Extensions",
	} {
		m[k] = k
	}
	return m
}()

// canonicalKey is a header name in net/http's canonical form
// ("content-type" → "Content-Type"); known names do not allocate.
func canonicalKey(b []byte) string {
	var buf [64]byte
	c := b
	if len(b) <= len(buf) {
		upper := true
		for i, ch := range b {
			switch {
			case upper && 'a' <= ch && ch <= 'z':
				ch -= 'a' - 'A'
			case !upper && 'A' <= ch && ch <= 'Z':
				ch += 'a' - 'A'
			}
			buf[i] = ch
			upper = ch == '-'
		}
		c = buf[:len(b)]
	} else {
		return http.CanonicalHeaderKey(string(b))
	}
	if k, ok := commonKeys[string(c)]; ok {
		return k
	}
	return string(c)
}
