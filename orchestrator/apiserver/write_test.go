package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// do sends one request to h and returns the status and body.
func do(h http.Handler, method, path, body string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestWriteStatusCodes(t *testing.T) {
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/v1/cluster/init", "", 200},
		{"POST", "/v1/cluster/init", `{"advertise_addr":"10.0.0.1"}`, 200},
		{"POST", "/v1/cluster/init", `{"advertise_addr":`, 400},
		{"POST", "/v1/cluster/join", `{"remote_addr":"10.0.0.1:2378"}`, 400},
		{"POST", "/v1/cluster/join", `{"token":"XOTKN-1-worker"}`, 400},
		{"POST", "/v1/cluster/join", `{"token":"nope","remote_addr":"10.0.0.1:2378"}`, 400},
		{"POST", "/v1/cluster/join", `{"token":"XOTKN-1-manager","remote_addr":"10.0.0.1:2378"}`, 200},
		{"GET", "/v1/cluster/token/worker", "", 200},
		{"GET", "/v1/cluster/token/manager?rotate=1", "", 200},
		{"GET", "/v1/cluster/token/manager?rotate=maybe", "", 400},
		{"GET", "/v1/cluster/token/admin", "", 400},
		{"GET", "/v1/nodes", "", 200},
		{"GET", "/v1/nodes/bravo", "", 200},
		{"GET", "/v1/nodes/nope", "", 404},
		{"POST", "/v1/nodes/charlie/promote", "", 204},
		{"POST", "/v1/nodes/nope/promote", "", 404},
		{"POST", "/v1/nodes/alpha/demote", "", 204},
		{"POST", "/v1/nodes/alpha/update", `{"labels_add":{"a":"b"}}`, 204},
		{"POST", "/v1/nodes/alpha/update", `{"availability":"sleepy"}`, 400},
		{"POST", "/v1/nodes/alpha/update", `{"labels_add":{"":"b"}}`, 400},
		{"POST", "/v1/nodes/alpha/update", `[]`, 400},
		{"DELETE", "/v1/nodes/charlie", "", 409},
		{"DELETE", "/v1/nodes/charlie?force=1", "", 204},
		{"DELETE", "/v1/nodes/bravo", "", 204},
		{"DELETE", "/v1/nodes/nope", "", 404},
		{"DELETE", "/v1/nodes/alpha?force=yes", "", 400},
		{"POST", "/v1/networks", `{"name":"api","subnet":"10.40.0.0/24"}`, 201},
		{"POST", "/v1/networks", `{"subnet":"10.40.0.0/24"}`, 400},
		{"POST", "/v1/networks", `{"name":"x","subnet":"10.40.0.0/33"}`, 400},
		{"POST", "/v1/networks", `{"name":"y","subnet":"10.10.0.0/16"}`, 409},
		{"DELETE", "/v1/networks/web", "", 409},
		{"DELETE", "/v1/networks/" + apitest.PendingID[:6], "", 204},
		{"DELETE", "/v1/networks/3f", "", 400},
		{"DELETE", "/v1/networks/nope", "", 404},
	} {
		s := apitest.Store(t)
		h := apiserver.New(s, apitest.Info, apitest.NewOps(s), nil, nil).Handler()
		code, body := do(h, tc.method, tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s %s %s = %d, want %d: %s", tc.method, tc.path, tc.body, code, tc.code, body)
		}
		checkBody(t, tc.method+" "+tc.path, code, body)
	}
}

// checkBody checks that an error answer carries a message and that 204
// has no body.
func checkBody(t *testing.T, what string, code int, body string) {
	t.Helper()
	switch {
	case code == http.StatusNoContent && body != "":
		t.Errorf("%s: 204 with body %q", what, body)
	case code >= 400:
		var e api.Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message == "" {
			t.Errorf("%s: error body %q", what, body)
		}
	}
}

func TestOpsErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w: node zz-node", state.ErrNotFound), 404},
		{fmt.Errorf("%w: would lose quorum", state.ErrConflict), 409},
		{fmt.Errorf("%w: bad role", state.ErrInvalid), 400},
		{fmt.Errorf("%w: no leader", apiserver.ErrUnavailable), 503},
		{errors.New("raft: shutdown"), 500},
	} {
		s := apitest.Store(t)
		ops := apitest.NewOps(s)
		h := apiserver.New(s, apitest.Info, ops, nil, nil).Handler()
		ops.Fail("NodeSetRole", tc.err)
		code, body := do(h, "POST", "/v1/nodes/alpha/demote", "")
		want, _ := json.Marshal(api.Error{Message: state.Message(tc.err)}) // the class is in the status code
		if code != tc.code || body != string(want)+"\n" {
			t.Errorf("%v: %d %s, want %d %s", tc.err, code, body, tc.code, want)
		}
	}
}

func TestWritesWithoutOps(t *testing.T) {
	h := apiserver.New(apitest.Store(t), apitest.Info, nil, nil, nil).Handler()
	for _, r := range []string{
		"POST /v1/cluster/init", "POST /v1/cluster/join", "GET /v1/cluster/token/worker",
		"DELETE /v1/nodes/alpha", "POST /v1/nodes/alpha/promote", "POST /v1/nodes/alpha/demote",
		"POST /v1/nodes/alpha/update", "POST /v1/networks", "DELETE /v1/networks/web",
	} {
		method, path, _ := strings.Cut(r, " ")
		code, body := do(h, method, path, "{}")
		if code != http.StatusNotImplemented || !strings.Contains(body, "does not accept cluster changes") {
			t.Errorf("%s = %d %s, want 501", r, code, body)
		}
	}
	for _, path := range []string{"/v1/nodes", "/v1/nodes/alpha", "/v1/networks"} {
		if code, body := do(h, "GET", path, ""); code != http.StatusOK {
			t.Errorf("GET %s = %d %s", path, code, body)
		}
	}
}

func TestNetworkCreate(t *testing.T) {
	c, ops := opsClient(t)
	ops.CreateDelay = 100 * time.Millisecond
	ctx := context.Background()
	req := api.NetworkCreateRequest{
		Name: "api", Subnet: "10.40.0.0/24", Gateway: "10.40.0.254",
		AuxAddresses: map[string]string{"router": "10.40.0.2"}, Options: map[string]string{"xoverlay.mtu": "1400"},
	}
	n, err := c.NetworkCreate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// The answer waited for the network to be named.
	if n.ID != apitest.NetworkID("api") || n.Name != "api" || n.Subnet != "10.40.0.0/24" || n.Gateway != "10.40.0.254" ||
		n.Options["xoverlay.mtu"] != "1400" || len(n.Hosts) != 1 || n.Hosts[0].Hostname != "alpha" {
		t.Errorf("created = %+v", n)
	}
	wantCall := "NetworkCreate {Name:api Subnet:10.40.0.0/24 IPRange: Gateway:10.40.0.254 " +
		"AuxAddresses:map[router:10.40.0.2] Options:map[xoverlay.mtu:1400]}"
	if calls := ops.Calls(); len(calls) != 1 || calls[0] != wantCall {
		t.Errorf("calls = %q", calls)
	}
	_, err = c.NetworkCreate(ctx, api.NetworkCreateRequest{Name: "again", Subnet: "10.40.0.0/25"})
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "overlaps subnet 10.40.0.0/24 of network api") {
		t.Errorf("overlapping subnet: %v", err)
	}
	_, err = c.NetworkCreate(ctx, api.NetworkCreateRequest{Name: "bad", Subnet: "10.40.1.0/33"})
	if !errors.Is(err, api.ErrInvalid) {
		t.Errorf("bad subnet: %v", err)
	}
}

func TestNetworkCreateNotReplicated(t *testing.T) {
	apiserver.SetCreateWait(t, 100*time.Millisecond)
	// Ops creates the network in a store the server does not read.
	ops := apitest.NewOps(apitest.Store(t))
	c := api.NewClient(apitest.ServeOps(t, apitest.Store(t), apitest.Info, ops))
	n, err := c.NetworkCreate(context.Background(), api.NetworkCreateRequest{Name: "later", Subnet: "10.50.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != apitest.NetworkID("later") || n.Name != "later" || n.Subnet != "10.50.0.0/24" || n.Hosts == nil {
		t.Errorf("answer = %+v", n)
	}
}

func TestNetworkRemoveAndErrors(t *testing.T) {
	c, ops := opsClient(t)
	ctx := context.Background()
	web, err := c.Network(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(web.Errors) != 1 || web.Errors["charlie"] != apitest.WebError || web.Deleting {
		t.Errorf("web errors = %v, deleting %t", web.Errors, web.Deleting)
	}
	err = c.NetworkRemove(ctx, "web")
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "still has endpoints on alpha (web-1), bravo (web-2, web-3)") {
		t.Errorf("remove web: %v", err)
	}
	if err := c.NetworkRemove(ctx, apitest.PendingID[:4]); err != nil {
		t.Fatal(err)
	}
	pending, err := c.Network(ctx, apitest.PendingID)
	if err != nil || !pending.Deleting || pending.Errors != nil {
		t.Errorf("pending after rm = %+v, %v", pending, err)
	}
	if err := c.NetworkRemove(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("remove a missing network: %v", err)
	}
	want := []string{"NetworkRemove " + apitest.WebID, "NetworkRemove " + apitest.PendingID}
	if got := ops.Calls(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("calls = %v", got)
	}
}
