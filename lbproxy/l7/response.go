package l7

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
)

// maxResponseHead bounds a backend answer's status line and headers.
const maxResponseHead = 256 << 10

// Body framings of a backend answer.
const (
	bodyEmpty    = iota // HEAD, 1xx, 204, 304, Content-Length: 0
	bodyLength          // Content-Length
	bodyChunked         // Transfer-Encoding: chunked
	bodyUntilEOF        // neither: the body ends with the connection
)

// backendResponse is a backend's answer: its status and framing, its
// headers (parsed straight into the client's header map) and its body.
type backendResponse struct {
	status  int
	length  int64 // Content-Length, -1: unknown
	framing int
	close   bool // the backend ends the connection after this answer
	body    responseBody
}

// headerSink receives a backend answer's header fields.
type headerSink interface {
	addHeader(h http.Header, key, value string)
}

// plainSink appends values with ordinary allocations.
type plainSink struct{}

func (plainSink) addHeader(h http.Header, k, v string) { h[k] = append(h[k], v) }

var (
	errMalformedAnswer = errors.New("malformed answer")
	errHeadTooLarge    = errors.New("headers too large")
)

// readAnswer reads the head of a backend answer to the request with
// method into dst, skipping interim 1xx answers other than 101. The
// headers that concern only the connection (hop-by-hop) are left out,
// except on a 101, whose Upgrade and Connection the client needs.
func readAnswer(br *bufio.Reader, method string, dst http.Header, sink headerSink, resp *backendResponse) error {
	for {
		if err := readHead(br, method, dst, sink, resp); err != nil {
			return err
		}
		if resp.status >= 200 || resp.status == http.StatusSwitchingProtocols {
			return nil
		}
		clear(dst)
	}
}

func readHead(br *bufio.Reader, method string, dst http.Header, sink headerSink, resp *backendResponse) error {
	*resp = backendResponse{length: -1}
	budget := maxResponseHead
	line, err := readLine(br, &budget)
	if err != nil {
		return err
	}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: status line %q", errMalformedAnswer, truncate(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: status line %q", errMalformedAnswer, truncate(line))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return fmt.Errorf("%w: status %d", errMalformedAnswer, code)
	}
	resp.status = code
	http10 := line[7] == '0'
	resp.close = http10
	keepHop := code == http.StatusSwitchingProtocols
	var connTokens [][]byte
	chunked, haveLength := false, false
	for {
		line, err = readLine(br, &budget)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return fmt.Errorf("%w: folded header line", errMalformedAnswer)
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) {
			return fmt.Errorf("%w: header line %q", errMalformedAnswer, truncate(line))
		}
		value := trimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return fmt.Errorf("%w: header %q has a control character", errMalformedAnswer, line[:colon])
		}
		key := canonicalKey(line[:colon])
		switch key {
		case "Content-Length":
			n, ok := parseLength(value)
			if !ok || haveLength && n != resp.length {
				return fmt.Errorf("%w: Content-Length %q", errMalformedAnswer, truncate(value))
			}
			if haveLength {
				continue
			}
			haveLength, resp.length = true, n
		case "Transfer-Encoding":
			last := value
			if i := bytes.LastIndexByte(value, ','); i >= 0 {
				last = trimOWS(value[i+1:])
			}
			if !bytes.EqualFold(last, []byte("chunked")) {
				return fmt.Errorf("%w: Transfer-Encoding %q", errMalformedAnswer, truncate(value))
			}
			chunked = true
		case "Connection":
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = trimOWS(tok)
				switch {
				case bytes.EqualFold(tok, []byte("close")):
					resp.close = true
				case bytes.EqualFold(tok, []byte("keep-alive")):
					if http10 {
						resp.close = false
					}
				case len(tok) > 0:
					connTokens = append(connTokens, tok)
				}
			}
		}
		if !keepHop && hopHeader(key) {
			continue
		}
		sink.addHeader(dst, key, string(value))
	}
	for _, tok := range connTokens {
		if !keepHop {
			delete(dst, canonicalKey(tok))
		}
	}
	switch {
	case method == http.MethodHead || code < 200 || code == http.StatusNoContent || code == http.StatusNotModified:
		resp.framing = bodyEmpty
	case chunked:
		// Transfer-Encoding wins over Content-Length (RFC 9112 6.3);
		// such an answer may be an attack: do not reuse the connection.
		if haveLength {
			delete(dst, "Content-Length")
			resp.close = true
		}
		resp.framing, resp.length = bodyChunked, -1
	case haveLength && resp.length == 0:
		resp.framing = bodyEmpty
	case haveLength:
		resp.framing = bodyLength
	default:
		resp.framing, resp.close = bodyUntilEOF, true
	}
	resp.body = responseBody{br: br, framing: resp.framing, remain: resp.length}
	return nil
}
