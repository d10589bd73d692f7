package l7

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgradeEcho is a minimal WebSocket-style backend: it answers an
// Upgrade with 101 and then echoes raw bytes until the client closes;
// closed gets a value when its side of the tunnel ends.
func upgradeEcho(t *testing.T) (*testBackend, chan struct{}) {
	closed := make(chan struct{}, 1)
	b := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "not an upgrade", 400)
			return
		}
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + wsGUID))
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer func() {
			conn.Close()
			closed <- struct{}{}
		}()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
		brw.WriteString("Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
		brw.WriteString("hello from the backend\n") // right after the 101
		brw.Flush()
		io.Copy(conn, brw.Reader)
	})
	return b, closed
}

func TestWebSocketUpgrade(t *testing.T) {
	checkGoroutines(t)
	be, closed := upgradeEcho(t)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))

	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"+
		"Sec-WebSocket-Key: "+key+"\r\nSec-WebSocket-Version: 13\r\n\r\nearly bytes\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("upgrade answer %d %v", resp.StatusCode, resp.Header)
	}
	read := func() string {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading through the tunnel: %v", err)
		}
		return line
	}
	if got := read(); got != "hello from the backend\n" {
		t.Errorf("first line %q", got)
	}
	if got := read(); got != "early bytes\n" {
		t.Errorf("bytes sent with the upgrade request came back as %q", got)
	}
	for _, msg := range []string{"ping\n", strings.Repeat("z", 100000) + "\n"} {
		io.WriteString(conn, msg)
		if got := read(); got != msg {
			t.Errorf("echo of %d bytes: got %d bytes", len(msg), len(got))
		}
	}
	conn.Close()
	<-closed // the client's close reached the backend
	eventually(t, "the tunnel to end", func() bool {
		p.tunnels.mu.Lock()
		defer p.tunnels.mu.Unlock()
		return len(p.tunnels.set) == 0
	})
}

// TestWebSocketRefused: a backend that refuses the upgrade answers
// normally and the connection goes on as plain HTTP.
func TestWebSocketRefused(t *testing.T) {
	be := startBackend(t, status(403))
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	code, _, _ := do(t, newClient(t), "GET", p.url("/ws"), "", "Upgrade", "websocket", "Connection", "Upgrade")
	if code != 403 {
		t.Errorf("status %d, want the backend's 403", code)
	}
}

func TestCloseEndsTunnels(t *testing.T) {
	checkGoroutines(t)
	be, _ := upgradeEcho(t)
	p := startProxy(t, Options{})
	p.update(t, oneUpstream(Upstream{Servers: servers(be.addr())}))
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v", err)
	}
	p.Close()
	if _, err := io.ReadAll(br); err != nil {
		t.Logf("tunnel ended with %v", err)
	}
}
