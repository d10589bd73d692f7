package ingress

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var net2 = Network{ID: "net2", Name: "other", EngineID: "e2", Subnet: netip.MustParsePrefix("10.2.0.0/24")}

func fakeBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "xo")
	if err := os.WriteFile(p, []byte("#!static xo binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSelfImage(t *testing.T) {
	e := newFakeEngine()
	e.images[ImageRepo+":old"] = []string{ImageRepo + ":old"}
	e.images["xo-demo:v1"] = []string{"xo-demo:v1"}
	img := &selfImage{eng: e, binary: fakeBinary(t)}
	ref, err := img.Ref(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, ImageRepo+":") || len(ref) != len(ImageRepo)+1+16 {
		t.Fatalf("ref %q", ref)
	}
	if len(e.imports) != 1 || !reflect.DeepEqual(e.imports[0].files, map[string]string{"xo 755": "#!static xo binary"}) ||
		!slices.Contains(e.imports[0].changes, `CMD ["/xo", "pause"]`) {
		t.Fatalf("imports %+v", e.imports)
	}
	if calls := e.Calls(); !reflect.DeepEqual(calls, []string{"import " + ref, "rmi " + ImageRepo + ":old"}) {
		t.Fatalf("calls %q: want the import and the old image's removal only", calls)
	}
	if again, err := img.Ref(context.Background()); err != nil || again != ref || len(e.Calls()) != 0 {
		t.Fatalf("second Ref: %q %v: want the same image, no import", again, err)
	}
	if _, err := (&selfImage{eng: e, binary: "/nonexistent/xo"}).Ref(context.Background()); err == nil ||
		!strings.Contains(err.Error(), "/nonexistent/xo") {
		t.Fatalf("missing binary: %v", err)
	}
}

func TestSandboxLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newFakeEngine()
	img := &selfImage{eng: e, binary: fakeBinary(t)}
	s := &sandboxes{eng: e, node: "n1", image: img.Ref}

	sb, err := s.Ensure(ctx, []Network{appnet, net2})
	if err != nil {
		t.Fatal(err)
	}
	calls := e.Calls()
	if len(calls) != 4 || !strings.HasPrefix(calls[0], "import ") || calls[1] != "create xo-ingress "+strings.TrimPrefix(calls[0], "import ")+" on e-net" ||
		calls[2] != "start ctr1" || calls[3] != "connect ctr1 e2" {
		t.Fatalf("calls %q", calls)
	}
	want := Sandbox{ID: "ctr1", NS: "/ns/ctr1-1", Addrs: map[string]netip.Addr{
		"net": netip.MustParseAddr("10.5.0.101"), "net2": netip.MustParseAddr("10.2.0.101")}}
	if !reflect.DeepEqual(sb, want) {
		t.Fatalf("sandbox %+v, want %+v", sb, want)
	}
	c := e.ctrs["ctr1"]
	if c.labels[LabelIngress] != "n1" || c.host.Sysctls["net.ipv4.ip_forward"] != "1" || !c.host.ReadonlyRootfs {
		t.Fatalf("container %+v %+v", c.labels, c.host)
	}

	// Nothing to do: no call.
	if again, err := s.Ensure(ctx, []Network{appnet, net2}); err != nil || !reflect.DeepEqual(again, want) || len(e.Calls()) != 0 {
		t.Fatalf("second Ensure: %+v %v", again, err)
	}
	// A network is no longer needed.
	if sb, err = s.Ensure(ctx, []Network{net2}); err != nil || len(sb.Addrs) != 1 {
		t.Fatalf("Ensure on net2 only: %+v %v", sb, err)
	}
	if calls := e.Calls(); !reflect.DeepEqual(calls, []string{"disconnect ctr1 e-net"}) {
		t.Fatalf("calls %q", calls)
	}
	// It died (an engine restart): started again, in a new namespace.
	e.die("ctr1")
	if sb, err = s.Ensure(ctx, []Network{net2}); err != nil || sb.NS != "/ns/ctr1-2" {
		t.Fatalf("after its death: %+v %v", sb, err)
	}
	if calls := e.Calls(); !reflect.DeepEqual(calls, []string{"start ctr1"}) {
		t.Fatalf("calls %q", calls)
	}
	if err := s.Remove(ctx); err != nil || len(e.ctrs) != 0 {
		t.Fatalf("Remove: %v, left %v", err, e.ctrs)
	}
}

func TestSandboxNameTaken(t *testing.T) {
	e := newFakeEngine()
	e.ctrs["mine"] = &fakeCtr{id: "mine", name: ContainerName, nets: map[string]string{}}
	s := &sandboxes{eng: e, node: "n1", image: func(context.Context) (string, error) { return "img", nil }}
	_, err := s.Ensure(context.Background(), []Network{appnet})
	if err == nil || !strings.Contains(err.Error(), "a container named xo-ingress exists that the agent did not make") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := e.ctrs["mine"]; !ok {
		t.Fatal("the user's container was removed")
	}
}
