package plugins

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/netdriver"
	"github.com/xoverlay/xoverlay/orchestrator/state/statetest"
)

// noKernel accepts every kernel change.
type noKernel struct{}

func (noKernel) EnsureBridge(netdriver.BridgeSpec) error { return nil }
func (noKernel) DeleteBridge(netdriver.BridgeSpec) error { return nil }
func (noKernel) EnsureVeth(netdriver.VethSpec) error     { return nil }
func (noKernel) DeleteVeth(string) error                 { return nil }
func (noKernel) ListOwned() (netdriver.Owned, error)     { return netdriver.Owned{}, nil }

func newServer(t *testing.T) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	d := netdriver.New(netdriver.Config{Node: "n1"}, statetest.New(), noKernel{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(NewHandler(d.Network(), d.IPAM(), reg))
	t.Cleanup(srv.Close)
	return srv, reg
}

// call posts like dockerd's plugin client; body "" sends no body at all.
func call(t *testing.T, srv *httptest.Server, method, body string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp, err := http.Post(srv.URL+"/"+method, "application/vnd.docker.plugins.v1.2+json", r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: decode answer: %v", method, err)
	}
	return resp.StatusCode, out
}

func TestActivateImplementsBoth(t *testing.T) {
	srv, _ := newServer(t)
	_, out := call(t, srv, "Plugin.Activate", "")
	got, _ := json.Marshal(out["Implements"])
	if string(got) != `["NetworkDriver","IpamDriver"]` {
		t.Fatalf("Implements = %s", got)
	}
}

func TestCallsWithoutBody(t *testing.T) {
	srv, _ := newServer(t)
	if code, out := call(t, srv, "NetworkDriver.GetCapabilities", ""); code != 200 || out["Scope"] != "local" || out["ConnectivityScope"] != "global" {
		t.Fatalf("capabilities: %d %v", code, out)
	}
	if _, out := call(t, srv, "IpamDriver.GetDefaultAddressSpaces", ""); out["LocalDefaultAddressSpace"] != "xoverlay" {
		t.Fatalf("address spaces: %v", out)
	}
}

func TestDriverErrorsAndMetrics(t *testing.T) {
	srv, reg := newServer(t)
	code, out := call(t, srv, "IpamDriver.RequestPool", `{"AddressSpace":"xoverlay","Pool":"10.1.0.0/24"}`)
	if code != 200 || out["Pool"] != "10.1.0.0/24" || out["PoolID"] == "" {
		t.Fatalf("RequestPool: %d %v", code, out)
	}
	code, out = call(t, srv, "IpamDriver.RequestPool", `{"AddressSpace":"xoverlay","Pool":"10.1.0.0/16"}`)
	if code == 200 || !strings.Contains(out["Err"].(string), "overlaps subnet 10.1.0.0/24") {
		t.Fatalf("overlap: %d %v", code, out)
	}
	if code, out := call(t, srv, "NetworkDriver.CreateNetwork", `{not json`); code == 200 || !strings.Contains(out["Err"].(string), "bad request body") {
		t.Fatalf("malformed body: %d %v", code, out)
	}
	if n := testutil.ToFloat64(mustCounter(t, reg, "xo_plugin_call_errors_total", "IpamDriver.RequestPool")); n != 1 {
		t.Fatalf("RequestPool errors = %v", n)
	}
	if n, err := testutil.GatherAndCount(reg, "xo_plugin_call_duration_seconds"); err != nil || n == 0 {
		t.Fatalf("latency series = %d %v", n, err)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name, method string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() == method {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	t.Fatalf("no %s{method=%q}", name, method)
	return nil
}
