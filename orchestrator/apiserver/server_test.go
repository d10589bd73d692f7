package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

func sampleClient(t *testing.T) *api.Client {
	t.Helper()
	return api.NewClient(apitest.Serve(t, apitest.Store(t), apitest.Info))
}

func TestListNetworks(t *testing.T) {
	c := sampleClient(t)
	nets, err := c.Networks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range nets {
		ids = append(ids, n.ID)
	}
	if want := []string{apitest.PendingID, apitest.DBID, apitest.WebID}; !slices.Equal(ids, want) {
		t.Fatalf("order = %v, want %v (by name, then ID)", ids, want)
	}
	pending, db, web := nets[0], nets[1], nets[2]
	if pending.Name != "" || len(pending.Hosts) != 0 || pending.Subnet != "10.30.0.0/24" {
		t.Errorf("pending = %+v", pending)
	}
	if db.VNI != 4097 || len(db.Hosts) != 1 || db.Hosts[0].Hostname != apitest.GhostNode {
		t.Errorf("db = %+v, want VNI 4097 and one host named by its node ID", db)
	}
	checkWeb(t, web)
}

func checkWeb(t *testing.T, web api.Network) {
	t.Helper()
	if web.Name != "web" || web.VNI != 4096 || web.Gateway != "10.10.0.1" || web.MTU != 1450 ||
		web.Options["xoverlay.mtu"] != "1450" || !web.Created.Equal(apitest.Created) {
		t.Errorf("web = %+v", web)
	}
	if len(web.Hosts) != 2 {
		t.Fatalf("web hosts = %+v", web.Hosts)
	}
	alpha, bravo := web.Hosts[0], web.Hosts[1]
	if alpha.Hostname != "alpha" || alpha.NodeID != apitest.AlphaNode || alpha.EngineNetworkID != "e1a1e1a1e1a1e1a1" {
		t.Errorf("first host = %+v, want alpha (hosts sort by hostname)", alpha)
	}
	if !slices.Equal(alpha.Blocks, []string{"10.10.0.16/28", "10.10.0.32/28"}) {
		t.Errorf("alpha blocks = %v", alpha.Blocks)
	}
	if bravo.Hostname != "bravo" || !slices.Equal(bravo.Blocks, []string{"10.10.0.0/28"}) {
		t.Errorf("second host = %+v", bravo)
	}
	var ips []string
	for _, ep := range bravo.Endpoints {
		ips = append(ips, ep.IP)
	}
	if !slices.Equal(ips, []string{"10.10.0.9", "10.10.0.10"}) {
		t.Errorf("bravo endpoint IPs = %v, want numeric order", ips)
	}
	if ep := bravo.Endpoints[0]; ep.Container != "web-2" || ep.MAC != "02:42:0a:0a:00:09" || ep.HostIface != "xoep0002" {
		t.Errorf("endpoint = %+v", ep)
	}
	if web.EndpointCount() != 3 || web.ShortID() != apitest.WebID[:12] {
		t.Errorf("EndpointCount = %d, ShortID = %s", web.EndpointCount(), web.ShortID())
	}
}

func TestInspectNetwork(t *testing.T) {
	c := sampleClient(t)
	ctx := context.Background()
	for ref, want := range map[string]string{
		"web":                     apitest.WebID,
		apitest.WebID:             apitest.WebID,
		"3f9":                     apitest.WebID,
		"db":                      apitest.DBID,
		apitest.PendingID[:5]:     apitest.PendingID,
		apitest.DBID[:len("3fb")]: apitest.DBID,
	} {
		n, err := c.Network(ctx, ref)
		if err != nil {
			t.Errorf("Network(%q): %v", ref, err)
			continue
		}
		if n.ID != want {
			t.Errorf("Network(%q) = %s, want %s", ref, n.ID, want)
		}
		if n.ID == apitest.WebID {
			checkWeb(t, n)
		}
	}
}

func TestInspectErrors(t *testing.T) {
	c := sampleClient(t)
	ctx := context.Background()

	_, err := c.Network(ctx, "nope")
	if !errors.Is(err, api.ErrNotFound) || err.Error() != `network "nope" not found` {
		t.Errorf("missing network: %v (ErrNotFound: %t)", err, errors.Is(err, api.ErrNotFound))
	}
	_, err = c.Network(ctx, "3f")
	if err == nil || errors.Is(err, api.ErrNotFound) {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	for _, want := range []string{`"3f" is ambiguous`, apitest.WebID[:12] + " (web)", apitest.DBID[:12] + " (db)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ambiguous prefix error %q lacks %q", err, want)
		}
	}
	if _, err := c.Network(ctx, ""); err == nil {
		t.Error("empty ref: no error")
	}
}

func TestStatusCodes(t *testing.T) {
	h := apiserver.New(apitest.Store(t), nil, nil, nil, nil).Handler()
	for path, code := range map[string]int{
		"/v1/networks":       http.StatusOK,
		"/v1/networks/web":   http.StatusOK,
		"/v1/networks/3f":    http.StatusBadRequest,
		"/v1/networks/nope":  http.StatusNotFound,
		"/v1/networks/a%2Fb": http.StatusNotFound,
		"/v1/version":        http.StatusOK,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != code {
			t.Errorf("GET %s = %d, want %d: %s", path, rec.Code, code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if code != http.StatusOK {
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
				t.Errorf("GET %s: error body %q", path, rec.Body)
			}
		}
	}
	// A pending network has an empty host list, not null.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/networks/"+apitest.PendingID, nil))
	if !strings.Contains(rec.Body.String(), `"hosts":[]`) {
		t.Errorf("pending network body: %s", rec.Body)
	}
}

func TestVersionAndInfo(t *testing.T) {
	c := sampleClient(t)
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != api.BuildInfo() {
		t.Errorf("version = %+v, want %+v", v, api.BuildInfo())
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := apitest.Info()
	want.ClusterID, want.Nodes, want.Networks, want.Endpoints = apitest.ClusterID, 3, 3, 4
	if info != want {
		t.Errorf("info = %+v\nwant %+v", info, want)
	}
}

func TestInfoDefaultsVersion(t *testing.T) {
	h := apiserver.New(apitest.Store(t), func() api.Info { return api.Info{NodeID: "n"} }, nil, nil, nil).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/info", nil))
	var info api.Info
	if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != api.Version || info.NodeID != "n" || info.Networks != 3 {
		t.Errorf("info = %s", rec.Body)
	}
}

func TestClientUnreachable(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	for _, socket := range []string{missing, stale} {
		_, err := api.NewClient(socket).Networks(context.Background())
		want := `cannot reach the xo agent at ` + socket +
			`: is "xo agent" running? (set --api-socket or XO_API_SOCKET)`
		if err == nil || err.Error() != want {
			t.Errorf("error = %v\nwant    %s", err, want)
		}
		if !errors.Is(err, api.ErrUnreachable) {
			t.Errorf("%v is not ErrUnreachable", err)
		}
	}
}

func TestListen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "xo")
	socket := filepath.Join(dir, "xo.sock")

	// A stale socket left by a dead agent is replaced.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()

	l, err := apiserver.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o660 {
		t.Errorf("socket mode = %o, want 660", perm)
	}
	// A live socket is not stolen.
	if _, err := apiserver.Listen(socket); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second Listen: %v", err)
	}
	// A regular file is not removed.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := apiserver.Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen on a file: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := apiserver.New(apitest.Store(t), nil, nil, nil, reg).Handler()
	apiserver.New(apitest.Store(t), nil, nil, nil, reg) // a second server shares the metrics
	for _, p := range []string{"/v1/networks/web", "/v1/networks/web", "/v1/networks/nope", "/v1/version"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/v1/networks/web", nil))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[key] = c.GetValue()
			}
			if h := m.GetHistogram(); h != nil {
				got[key] = float64(h.GetSampleCount())
			}
		}
	}
	for key, want := range map[string]float64{
		"xo_api_requests_total code=200 method=GET route=/v1/networks/{ref}":    2,
		"xo_api_requests_total code=404 method=GET route=/v1/networks/{ref}":    1,
		"xo_api_requests_total code=200 method=GET route=/v1/version":           1,
		"xo_api_request_duration_seconds method=GET route=/v1/networks/{ref}":   3,
		"xo_api_requests_total code=501 method=DELETE route=/v1/networks/{ref}": 1,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], want, got)
		}
	}
}
