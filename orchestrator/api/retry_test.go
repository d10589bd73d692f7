package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWriteErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		code  int
		class error
	}{
		{http.StatusNotFound, ErrNotFound},
		{http.StatusConflict, ErrConflict},
		{http.StatusBadRequest, ErrInvalid},
		{http.StatusServiceUnavailable, ErrUnavailable},
	} {
		var calls atomic.Int32
		socket := serve(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(tc.code)
			_, _ = w.Write([]byte(`{"message":"nope"}`))
		})
		c := NewClient(socket)
		c.retryFor = 250 * time.Millisecond
		start := time.Now()
		err := c.NodePromote(context.Background(), "n1")
		if !errors.Is(err, tc.class) || err.Error() != "nope" {
			t.Errorf("%d: %v, want class %v", tc.code, err, tc.class)
		}
		retried := calls.Load() > 1
		if retried != (tc.code == http.StatusServiceUnavailable) {
			t.Errorf("%d: %d calls", tc.code, calls.Load())
		}
		if took := time.Since(start); tc.code == http.StatusServiceUnavailable && took > time.Second {
			t.Errorf("gave up after %s, want about 250ms", took)
		}
	}
}

func TestWriteRequests(t *testing.T) {
	type seen struct{ method, path, body string }
	var (
		mu  sync.Mutex
		got []seen
	)
	socket := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.RequestURI(), string(b)})
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/cluster/token/worker":
			_ = json.NewEncoder(w).Encode(JoinToken{Role: "worker", Token: "T"})
		case "/v1/networks":
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(Network{ID: "n1", Name: "a"})
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	c := NewClient(socket)
	ctx := context.Background()
	if tok, err := c.ClusterToken(ctx, "worker", true); err != nil || tok != "T" {
		t.Errorf("token = %q, %v", tok, err)
	}
	if n, err := c.NetworkCreate(ctx, NetworkCreateRequest{Name: "a"}); err != nil || n.ID != "n1" {
		t.Errorf("create = %+v, %v", n, err)
	}
	for _, err := range []error{
		c.NodeRemove(ctx, "a/b", true),
		c.NodeUpdate(ctx, "n1", NodeUpdateRequest{Availability: "drain"}),
		c.NetworkRemove(ctx, "web"),
	} {
		if err != nil {
			t.Error(err)
		}
	}
	requests := func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
	want := []seen{
		{"GET", "/v1/cluster/token/worker?rotate=1", ""},
		{"POST", "/v1/networks", `{"name":"a"}`},
		{"DELETE", "/v1/nodes/a%2Fb?force=1", ""},
		{"POST", "/v1/nodes/n1/update", `{"availability":"drain"}`},
		{"DELETE", "/v1/networks/web", ""},
	}
	sent := requests()
	if len(sent) != len(want) {
		t.Fatalf("requests = %+v", sent)
	}
	for i := range want {
		if sent[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, sent[i], want[i])
		}
	}
	// Arguments checked before any request.
	if _, err := c.ClusterToken(ctx, "admin", false); err == nil {
		t.Error("unknown role: no error")
	}
	if _, err := c.ClusterJoin(ctx, ClusterJoinRequest{RemoteAddr: "h:1"}); err == nil {
		t.Error("join without token: no error")
	}
	if err := c.NodePromote(ctx, ""); err == nil || len(requests()) != len(want) {
		t.Error("empty node ref: no error, or a request")
	}
}
