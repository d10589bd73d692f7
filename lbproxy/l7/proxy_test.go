package l7

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestProxyBasics(t *testing.T) {
	be := startBackend(t, echo)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	c := newClient(t)

	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	tests := []struct {
		name, method, path, body string
	}{
		{"GET", "GET", "/a/b?x=1&y=%20z", ""},
		{"POST small", "POST", "/post", "hello"},
		{"POST 1MiB", "POST", "/big", big},
		{"PUT", "PUT", "/put", "put body"},
		{"DELETE", "DELETE", "/del", ""},
		{"encoded path", "GET", "/a%2Fb/%7Euser", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := do(t, c, tc.method, p.url(tc.path), tc.body)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			var e echoed
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("backend answer %q: %v", body, err)
			}
			if e.Method != tc.method || e.URI != tc.path || e.Body != tc.body || e.Proto != "HTTP/1.1" {
				t.Errorf("backend saw %s %s %s body %d bytes, want %s %s HTTP/1.1 body %d bytes",
					e.Method, e.URI, e.Proto, len(e.Body), tc.method, tc.path, len(tc.body))
			}
		})
	}
}

func TestProxyChunkedUploadAndStreamedAnswer(t *testing.T) {
	release := make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "got %d bytes, chunked=%v\n", len(b), len(r.TransferEncoding) > 0)
		w.(http.Flusher).Flush()
		<-release // the first part must reach the client before this
		io.WriteString(w, "second part\n")
	})
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))

	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "got 11 bytes, chunked=true\n" {
		t.Fatalf("first streamed line %q, %v", line, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(rest), "second part") {
		t.Fatalf("rest %q, %v", rest, err)
	}
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
}

func TestProxyBodylessAnswers(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "11")
			io.WriteString(w, "hello world")
		}
	})
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	c := newClient(t)
	for _, tc := range []struct {
		method, path string
		code         int
		body, length string
	}{
		{"HEAD", "/", 200, "", "11"},
		{"GET", "/204", 204, "", ""},
		{"GET", "/304", 304, "", ""},
		{"GET", "/", 200, "hello world", "11"},
	} {
		code, body, h := do(t, c, tc.method, p.url(tc.path), "")
		if code != tc.code || body != tc.body || h.Get("Content-Length") != tc.length {
			t.Errorf("%s %s: %d %q Content-Length %q, want %d %q %q", tc.method, tc.path, code, body,
				h.Get("Content-Length"), tc.code, tc.body, tc.length)
		}
	}
	// The same connection still works after each of them.
	if code, body, _ := do(t, c, "GET", p.url("/"), ""); code != 200 || body != "hello world" {
		t.Errorf("after bodyless answers: %d %q", code, body)
	}
}

func TestForwardedHeaders(t *testing.T) {
	be := startBackend(t, echo)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	c := newClient(t)

	_, body, _ := do(t, c, "GET", p.url("/h"), "",
		"Host", "App.Example.com:8080",
		"X-Forwarded-For", "203.0.113.7",
		"X-Forwarded-Proto", "https", // a client cannot claim TLS
		"X-Real-IP", "203.0.113.99",
		"X_Real_IP", "203.0.113.98", // underscore: dropped
		"Connection", "X-Hop",
		"X-Hop", "per connection",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic Zm9vOmJhcg==",
		"Te", "trailers",
		"X-Custom", "kept",
	)
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("%q: %v", body, err)
	}
	want := map[string]string{
		"X-Forwarded-For":   "203.0.113.7, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "App.Example.com:8080",
		"X-Real-Ip":         "127.0.0.1",
		"X-Custom":          "kept",
	}
	for k, v := range want {
		if got := strings.Join(e.Header[k], "|"); got != v {
			t.Errorf("backend got %s %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"X_real_ip", "X_Real_IP", "X-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "Connection"} {
		if v, ok := e.Header[k]; ok {
			t.Errorf("backend got hop-by-hop or spoofable %s: %q", k, v)
		}
	}
	if e.Host != "App.Example.com:8080" {
		t.Errorf("backend got Host %q, want the client's", e.Host)
	}
}

func TestResponseHopByHopHeaders(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Private")
		h.Set("X-Private", "per connection")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("X-Public", "kept")
		h["Content-Type"] = nil // no Content-Type: the proxy must not invent one
		w.Write([]byte("<html>not sniffed</html>"))
	})
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	_, _, h := do(t, newClient(t), "GET", p.url("/"), "")
	if h.Get("X-Public") != "kept" {
		t.Errorf("X-Public %q", h.Get("X-Public"))
	}
	for _, k := range []string{"X-Private", "Keep-Alive"} {
		if v := h.Get(k); v != "" {
			t.Errorf("client got %s %q", k, v)
		}
	}
	if ct, ok := h["Content-Type"]; ok {
		t.Errorf("client got Content-Type %q, the backend sent none", ct)
	}
}

func TestHTTP10Client(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "streamed without length")
		w.(http.Flusher).Flush()
		io.WriteString(w, "!")
	})
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n")
	all, err := io.ReadAll(conn) // HTTP/1.0 without a length: the close ends the body
	if err != nil {
		t.Fatal(err)
	}
	s := string(all)
	if !strings.HasPrefix(s, "HTTP/1.1 200 OK\r\n") || strings.Contains(s, "chunked") || !strings.HasSuffix(s, "streamed without length!") {
		t.Errorf("answer to HTTP/1.0:\n%s", s)
	}
}
