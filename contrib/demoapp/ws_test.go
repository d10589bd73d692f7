package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWebSocketEcho(t *testing.T) {
	srv := httptest.NewServer((&app{version: "v1"}).handler())
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	c.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + "\r\n\r\n"))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("handshake: %d %v", res.StatusCode, res.Header)
	}
	for _, msg := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("x"), 70000)} {
		// A client's frame: masked.
		var f bytes.Buffer
		w := bufio.NewWriter(&f)
		writeFrame(w, 0x1, msg)
		w.Flush()
		b := f.Bytes()
		hdr := 2
		switch b[1] {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		mask := []byte{1, 2, 3, 4}
		out := append(append([]byte{b[0], b[1] | 0x80}, b[2:hdr]...), mask...)
		for i, x := range b[hdr:] {
			out = append(out, x^mask[i%4])
		}
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		op, got, err := readFrame(br)
		if err != nil || op != 0x1 || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: op %d, %d bytes, %v", len(msg), op, len(got), err)
		}
	}
	res2, err := http.Get(srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusBadRequest {
		t.Fatalf("a plain GET /ws: %d", res2.StatusCode)
	}
}
