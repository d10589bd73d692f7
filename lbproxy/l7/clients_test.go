package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange sends raw bytes on a new connection and returns all the
// proxy wrote back until it closed the connection.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(conn, raw)
	b, _ := io.ReadAll(conn)
	return string(b)
}

func TestMalformedRequests(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, named("be"))
	p := startProxy(t, Options{MaxHeaderBytes: 4096})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	tests := []struct {
		name, raw string
		status    string
	}{
		{"garbage", "GARBAGE\r\n\r\n", "400"},
		{"no version", "GET /\r\n\r\n", "400"},
		{"HTTP/2 text", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", "400"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400"},
		{"folded header", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", "400"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400"},
		{"control character", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", "400"},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400"},
		{"bad length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "400"},
		{"gzip TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "501"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 10000) + "\r\n\r\n", "431"},
		{"bad expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", "417"},
		{"bad target", "GET a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "405"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, p.addr, tc.raw)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
				t.Errorf("answer %q, want status %s", got, tc.status)
			}
		})
	}
	if n := be.hits.Load(); n != 0 {
		t.Errorf("%d malformed requests reached the backend", n)
	}
}

func TestSlowClientTimeouts(t *testing.T) {
	checkGoroutines(t)
	be := startBackend(t, echo)
	p := startProxy(t, Options{ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 150 * time.Millisecond,
		ClientTimeout: 150 * time.Millisecond})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	tests := []struct {
		name string
		send string
	}{
		{"silent after connecting", ""},
		{"headers never end", "GET / HTTP/1.1\r\nHost: a\r\n"},
		{"idle after a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"body never comes", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, tc.send)
			conn.SetReadDeadline(time.Now().Add(15 * time.Second)) // a bound, not an assertion
			_, err = io.ReadAll(conn)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the proxy kept the connection of a stalled client")
			}
		})
	}
}

func TestExpectContinue(t *testing.T) {
	be := startBackend(t, echo)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q %v, want 100 Continue", line, err)
	}
	br.ReadString('\n')
	io.WriteString(conn, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"Body":"hello"`) || strings.Contains(string(b), "Expect") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

// TestPipelining: requests sent back to back on one connection are
// answered in order.
func TestPipelining(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(conn)
	for _, want := range []string{"/1", "/2", "/3"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Errorf("got %q, want %q", b, want)
		}
	}
}

// TestUnreadBodyIsDrained: a request whose body the proxy does not read
// (404) keeps the connection usable for the next request.
func TestUnreadBodyIsDrained(t *testing.T) {
	p := startProxy(t, Options{})
	c := newClient(t)
	for range 3 {
		if code, _, _ := do(t, c, "POST", p.url("/x"), strings.Repeat("b", 5000)); code != 404 {
			t.Fatalf("status %d", code)
		}
	}
}
