package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// serve answers every request with h on a unix socket in a temp dir.
func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return socket
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		code     int
		body     string
		want     string
		notFound bool
	}{
		{"json 404", 404, `{"message":"network \"x\" not found"}`, `network "x" not found`, true},
		{"plain 404", 404, "404 page not found\n", "404 page not found", true},
		{"json 400", 400, `{"message":"ambiguous"}`, "ambiguous", false},
		{"empty 500", 500, "", "Internal Server Error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socket := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				_, _ = w.Write([]byte(tc.body))
			})
			_, err := NewClient(socket).Network(ctx, "x")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if errors.Is(err, ErrNotFound) != tc.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %t, want %t", !tc.notFound, tc.notFound)
			}
		})
	}
}

func TestClientPathAndDecode(t *testing.T) {
	var got string
	socket := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		_, _ = w.Write([]byte(`{"id":"abc","name":"a/b","hosts":[]}`))
	})
	n, err := NewClient(socket).Network(context.Background(), "a/b")
	if err != nil {
		t.Fatal(err)
	}
	if got != "/v1/networks/a%2Fb" || n.ID != "abc" || n.Name != "a/b" {
		t.Errorf("path %q, network %+v", got, n)
	}
}

func TestClientMissingSocket(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "nothing.sock")
	_, err := NewClient(socket).Info(context.Background())
	want := "cannot reach the xo agent at " + socket + `: is "xo agent" running? (set --api-socket or XO_API_SOCKET)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Error("not ErrUnreachable")
	}
}

func TestClientCanceled(t *testing.T) {
	socket := serve(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewClient(socket).Version(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}
