package l7

import (
	"bufio"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestReadAnswer(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		raw     string
		status  int
		framing int
		close   bool
		header  http.Header
		body    string
		trailer http.Header
		err     bool
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
			status: 200, framing: bodyLength, header: http.Header{"Content-Length": {"5"}, "Content-Type": {"text/plain"}}, body: "hello"},
		{name: "chunked with trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n",
			status: 200, framing: bodyChunked, header: http.Header{}, body: "abcde", trailer: http.Header{"X-Sum": {"5"}}},
		{name: "until EOF", raw: "HTTP/1.1 200 OK\r\n\r\nall of it",
			status: 200, framing: bodyUntilEOF, close: true, header: http.Header{}, body: "all of it"},
		{name: "HTTP/1.0 closes", raw: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
			status: 200, framing: bodyEmpty, close: true, header: http.Header{"Content-Length": {"0"}}},
		{name: "HTTP/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			status: 200, framing: bodyEmpty, header: http.Header{"Content-Length": {"0"}}},
		{name: "connection close", raw: "HTTP/1.1 200 OK\r\nConnection: close, X-Drop\r\nX-Drop: 1\r\nX-Keep: 2\r\nContent-Length: 0\r\n\r\n",
			status: 200, framing: bodyEmpty, close: true, header: http.Header{"Content-Length": {"0"}, "X-Keep": {"2"}}},
		{name: "HEAD has no body", method: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n",
			status: 200, framing: bodyEmpty, header: http.Header{"Content-Length": {"50"}}},
		{name: "interim answers skipped", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
			status: 204, framing: bodyEmpty, header: http.Header{}},
		{name: "101 keeps its hop headers", raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			status: 101, framing: bodyEmpty, header: http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}},
		{name: "names canonical, values trimmed, repeated kept", raw: "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nSET-COOKIE:  b=2 \r\nx-weird-NAME: v\r\nContent-Length: 0\r\n\r\n",
			status: 200, framing: bodyEmpty, header: http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Weird-Name": {"v"}, "Content-Length": {"0"}}},
		{name: "bare LF", raw: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
			status: 200, framing: bodyLength, header: http.Header{"Content-Length": {"2"}}, body: "ok"},
		{name: "TE wins over CL, no reuse", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
			status: 200, framing: bodyChunked, close: true, header: http.Header{}, body: "a"},
		{name: "equal lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
			status: 200, framing: bodyLength, header: http.Header{"Content-Length": {"1"}}, body: "x"},

		{name: "bad status line", raw: "HTTP/1.1 2000 OK\r\n\r\n", err: true},
		{name: "not HTTP", raw: "SSH-2.0-OpenSSH\r\n\r\n", err: true},
		{name: "HTTP/2 status", raw: "HTTP/2.0 200 OK\r\n\r\n", err: true},
		{name: "folded", raw: "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", err: true},
		{name: "no colon", raw: "HTTP/1.1 200 OK\r\nX a\r\n\r\n", err: true},
		{name: "control char", raw: "HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", err: true},
		{name: "conflicting lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", err: true},
		{name: "unknown coding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: true},
		{name: "cut head", raw: "HTTP/1.1 200 OK\r\nX: a", err: true},
		{name: "huge head", raw: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxResponseHead) + "\r\n\r\n", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			br := bufio.NewReaderSize(strings.NewReader(tc.raw), 4096)
			h := http.Header{}
			var resp backendResponse
			err := readAnswer(br, method, h, plainSink{}, &resp)
			if tc.err {
				if err == nil {
					t.Fatalf("accepted: status %d header %v", resp.status, h)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != tc.status || resp.framing != tc.framing || resp.close != tc.close {
				t.Errorf("status %d framing %d close %v, want %d %d %v", resp.status, resp.framing, resp.close, tc.status, tc.framing, tc.close)
			}
			if !maps.EqualFunc(h, tc.header, slices.Equal) {
				t.Errorf("header %v, want %v", h, tc.header)
			}
			body, err := io.ReadAll(&resp.body)
			if err != nil || string(body) != tc.body {
				t.Errorf("body %q %v, want %q", body, err, tc.body)
			}
			if !maps.EqualFunc(resp.body.trailer, tc.trailer, slices.Equal) {
				t.Errorf("trailer %v, want %v", resp.body.trailer, tc.trailer)
			}
		})
	}
}

func TestAnswerBodyCut(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	} {
		br := bufio.NewReader(strings.NewReader(raw))
		var resp backendResponse
		if err := readAnswer(br, "GET", http.Header{}, plainSink{}, &resp); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(&resp.body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v, want io.ErrUnexpectedEOF", raw, err)
		}
		if resp.body.done() {
			t.Errorf("%q: a cut body counts as done", raw)
		}
	}
}

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want func(t *testing.T, r *http.Request)
		code int // expected refusal
	}{
		{name: "simple", raw: "GET /a/b?c=d HTTP/1.1\r\nHost: Example.com\r\nAccept: */*\r\n\r\n", want: func(t *testing.T, r *http.Request) {
			if r.Method != "GET" || r.RequestURI != "/a/b?c=d" || r.URL.Path != "/a/b" || r.URL.RawQuery != "c=d" ||
				r.Host != "Example.com" || r.Header.Get("Accept") != "*/*" || r.Header.Get("Host") != "" || r.Body != http.NoBody || r.Close {
				t.Errorf("%+v", r)
			}
		}},
		{name: "leading empty line", raw: "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", want: func(t *testing.T, r *http.Request) {
			if r.URL.Path != "/" {
				t.Errorf("path %q", r.URL.Path)
			}
		}},
		{name: "escaped path", raw: "GET /a%20b/%2F HTTP/1.1\r\nHost: a\r\n\r\n", want: func(t *testing.T, r *http.Request) {
			if r.URL.Path != "/a b//" || r.RequestURI != "/a%20b/%2F" {
				t.Errorf("path %q uri %q", r.URL.Path, r.RequestURI)
			}
		}},
		{name: "absolute form", raw: "GET http://other.example/x HTTP/1.1\r\nHost: a\r\n\r\n", want: func(t *testing.T, r *http.Request) {
			if r.Host != "other.example" || r.URL.Path != "/x" {
				t.Errorf("host %q path %q", r.Host, r.URL.Path)
			}
		}},
		{name: "HTTP/1.0", raw: "GET / HTTP/1.0\r\n\r\n", want: func(t *testing.T, r *http.Request) {
			if !r.Close || r.ProtoMinor != 0 {
				t.Errorf("close %v minor %d", r.Close, r.ProtoMinor)
			}
		}},
		{name: "length body", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcNEXT", want: func(t *testing.T, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if string(b) != "abc" || err != nil || r.ContentLength != 3 {
				t.Errorf("body %q %v", b, err)
			}
		}},
		{name: "chunked body", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\n", want: func(t *testing.T, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if string(b) != "ab" || err != nil || r.ContentLength != -1 {
				t.Errorf("body %q %v", b, err)
			}
		}},
		{name: "connection close", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", want: func(t *testing.T, r *http.Request) {
			if !r.Close {
				t.Error("Close not set")
			}
		}},
		{name: "CL and TE", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", code: 400},
		{name: "TE twice", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", code: 501},
		{name: "TE list", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", code: 501},
		{name: "TE on 1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", code: 501},
		{name: "length with sign", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", code: 400},
		{name: "two spaces", raw: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", code: 400},
		{name: "bad method", raw: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", code: 400},
		{name: "HTTP/3", raw: "GET / HTTP/3.0\r\nHost: a\r\n\r\n", code: 505},
		{name: "bad escape", raw: "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", code: 400},
		{name: "too many fields", raw: "GET / HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", maxRequestFields+1) + "\r\n", code: 431},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h h1request
			h.header = http.Header{}
			r, err := h.readRequest(bufio.NewReader(strings.NewReader(tc.raw)), 64<<10)
			if tc.code != 0 {
				var bad *badRequest
				if !errors.As(err, &bad) || bad.code != tc.code {
					t.Fatalf("err %v, want refusal %d", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, r)
		})
	}
}

// FuzzReadRequest: no input makes the request parser panic, and what
// it accepts has a sane shape.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"GET http://h/p?q HTTP/1.0\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var h h1request
		h.header = http.Header{}
		r, err := h.readRequest(bufio.NewReader(strings.NewReader(raw)), 64<<10)
		if err != nil {
			return
		}
		if r.Method == "" || r.RequestURI == "" || r.URL == nil || r.ContentLength < -1 {
			t.Errorf("accepted a request of odd shape: %+v", r)
		}
		io.Copy(io.Discard, r.Body)
	})
}

// FuzzReadAnswer: no backend answer makes the parser panic.
func FuzzReadAnswer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 204 No Content\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var resp backendResponse
		if err := readAnswer(bufio.NewReader(strings.NewReader(raw)), "GET", http.Header{}, plainSink{}, &resp); err == nil {
			io.Copy(io.Discard, &resp.body)
		}
	})
}

func TestCanonicalKey(t *testing.T) {
	for in, want := range map[string]string{
		"content-type": "Content-Type", "X-FORWARDED-FOR": "X-Forwarded-For", "etag": "Etag",
		"x": "X", strings.Repeat("a", 70): http.CanonicalHeaderKey(strings.Repeat("a", 70)),
	} {
		if got := canonicalKey([]byte(in)); got != want || got != http.CanonicalHeaderKey(in) {
			t.Errorf("canonicalKey(%q) = %q, want %q", in, got, want)
		}
	}
}
