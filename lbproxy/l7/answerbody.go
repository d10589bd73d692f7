package l7

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
)

// responseBody reads a backend answer's body by its framing. After a
// chunked body it reads (and keeps) the trailers.
type responseBody struct {
	br      *bufio.Reader
	framing int
	remain  int64
	chunks  io.Reader
	trailer http.Header
	eof     bool
}

// Read implements io.Reader; io.EOF is returned only at the body's
// proper end, a cut is io.ErrUnexpectedEOF.
func (b *responseBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	switch b.framing {
	case bodyEmpty:
		b.eof = true
		return 0, io.EOF
	case bodyLength:
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err := b.br.Read(p)
		b.remain -= int64(n)
		if b.remain == 0 {
			b.eof = true
			return n, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	case bodyChunked:
		if b.chunks == nil {
			b.chunks = httputil.NewChunkedReader(b.br)
		}
		n, err := b.chunks.Read(p)
		if err == io.EOF {
			if err = b.readTrailers(); err == nil {
				b.eof = true
				err = io.EOF
			}
		}
		return n, err
	default:
		n, err := b.br.Read(p)
		if err == io.EOF {
			b.eof = true
		}
		return n, err
	}
}

// readTrailers reads the trailer section after the last chunk.
func (b *responseBody) readTrailers() error {
	budget := maxResponseHead
	for {
		line, err := readLine(b.br, &budget)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(line[:colon]) || !validFieldValue(line[colon+1:]) {
			return fmt.Errorf("%w: trailer line %q", errMalformedAnswer, truncate(line))
		}
		key := canonicalKey(line[:colon])
		if hopHeader(key) || key == "Content-Length" {
			continue
		}
		if b.trailer == nil {
			b.trailer = make(http.Header)
		}
		b.trailer[key] = append(b.trailer[key], string(trimOWS(line[colon+1:])))
	}
}

// done reports whether the whole body was read.
func (b *responseBody) done() bool { return b.eof }
