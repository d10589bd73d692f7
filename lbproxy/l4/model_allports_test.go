package l4

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestAddressOnlyService(t *testing.T) {
	d := Desired{Services: []Service{{VIP: vip, Backends: aps("10.0.0.3:0", "10.0.0.2:0"),
		KnownPorts: []PortProto{{8080, TCP}, {53, UDP}}}}}
	f, err := d.Frontends()
	if err != nil {
		t.Fatal(err)
	}
	k := Key{VIP: vip}
	if !k.AllPorts() || k.Published() || !k.CarriesUDP() || k.String() != "10.0.0.100:*" {
		t.Fatalf("key %v: AllPorts %v Published %v", k, k.AllPorts(), k.Published())
	}
	if got := f[k]; !reflect.DeepEqual(got, aps("10.0.0.2:0", "10.0.0.3:0")) {
		t.Fatalf("backends %v", got)
	}
	if vips, _, vb, _ := f.Counts(); vips != 1 || vb != 2 {
		t.Fatalf("counts %d %d", vips, vb)
	}
	for name, bad := range map[string]Service{
		"backend with a port": {VIP: vip, Backends: aps("10.0.0.2:80")},
		"port without proto":  {VIP: vip, Port: 80},
		"proto without port":  {VIP: vip, Proto: TCP},
		"no VIP":              {Backends: aps("10.0.0.2:0")},
	} {
		if _, err := (Desired{Services: []Service{bad}}).Frontends(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "backend with a port" && !strings.Contains(err.Error(), "port 0 (the frontend serves every port)") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPerPort(t *testing.T) {
	other := netip.MustParseAddr("10.0.0.101")
	d := Desired{
		Services: []Service{
			{VIP: vip, Backends: aps("10.0.0.2:0", "10.0.0.3:0"), KnownPorts: []PortProto{{8080, TCP}, {53, UDP}, {8080, TCP}}},
			{VIP: vip, Port: 53, Proto: UDP, Backends: aps("10.0.0.9:5353")}, // listed on its own: wins
			{VIP: other, Port: 80, Proto: TCP, Backends: aps("10.0.0.4:80")},
			{VIP: other.Next()}, // no known ports: nothing
		},
		Published: []Published{{Port: 80, Proto: TCP}},
	}
	got := d.PerPort()
	want := []Service{
		{VIP: vip, Port: 8080, Proto: TCP, Backends: aps("10.0.0.2:8080", "10.0.0.3:8080")},
		{VIP: vip, Port: 53, Proto: UDP, Backends: aps("10.0.0.9:5353")},
		{VIP: other, Port: 80, Proto: TCP, Backends: aps("10.0.0.4:80")},
	}
	if !reflect.DeepEqual(got.Services, want) || len(got.Published) != 1 {
		t.Fatalf("PerPort:\n%+v\nwant\n%+v", got.Services, want)
	}
	if _, err := got.Frontends(); err != nil {
		t.Fatal(err)
	}
	if len(d.Services) != 4 || !d.Services[0].AllPorts() {
		t.Fatal("PerPort changed its receiver")
	}
}
