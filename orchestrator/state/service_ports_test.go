package state

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func withPorts(name string, labels map[string]string, ports ...PortConfig) ServiceSpec {
	s := webSpec()
	s.Name, s.Labels, s.Ports = name, labels, ports
	return s
}

func TestHTTPRoutes(t *testing.T) {
	cases := []struct {
		name   string
		spec   ServiceSpec
		want   []HTTPRoute
		errMsg string
	}{
		{"none", withPorts("a", nil, PortConfig{Target: 80, Published: 8080}), nil, ""},
		{"publish http", withPorts("a", map[string]string{LabelHTTPHost: "App.Example.com., *.b.org", LabelHTTPPath: "/api/"},
			PortConfig{Target: 8080, Published: 80, Mode: PublishHTTP}),
			[]HTTPRoute{{Port: 80, Target: 8080, Hosts: []string{"*.b.org", "app.example.com"}, Path: "/api"}}, ""},
		{"labels only", withPorts("a", map[string]string{LabelHTTPPort: "8080", LabelHTTPPolicy: "hash", LabelHTTPHashKey: "$uri"}),
			[]HTTPRoute{{Port: DefaultHTTPPort, Target: 8080, Path: "/", Policy: "hash", HashKey: "$uri"}}, ""},
		{"labels without port", withPorts("a", map[string]string{LabelHTTPHost: "a.b"}), nil, "xo.http.* labels need the tasks' port"},
		{"port twice", withPorts("a", map[string]string{LabelHTTPPort: "80"}, PortConfig{Target: 8080, Published: 80, Mode: PublishHTTP}),
			nil, "drop the label"},
		{"bad port", withPorts("a", map[string]string{LabelHTTPPort: "0"}), nil, "want the tasks' port"},
		{"host with port", withPorts("a", map[string]string{LabelHTTPHost: "a.b:80", LabelHTTPPort: "1"}), nil, "drop the port"},
		{"bad host", withPorts("a", map[string]string{LabelHTTPHost: "a b", LabelHTTPPort: "1"}), nil, "want a host name"},
		{"bad path", withPorts("a", map[string]string{LabelHTTPPath: "api", LabelHTTPPort: "1"}), nil, "starts with '/'"},
		{"dot path", withPorts("a", map[string]string{LabelHTTPPath: "/a/../b", LabelHTTPPort: "1"}), nil, "'..' segments"},
		{"policy", withPorts("a", map[string]string{LabelHTTPPolicy: "random", LabelHTTPPort: "1"}), nil, "want one of round_robin"},
		{"hash without key", withPorts("a", map[string]string{LabelHTTPPolicy: "hash", LabelHTTPPort: "1"}), nil, "set the request key"},
		{"key without hash", withPorts("a", map[string]string{LabelHTTPHashKey: "$uri", LabelHTTPPort: "1"}), nil, "only policy hash"},
		{"http without published", withPorts("a", nil, PortConfig{Target: 8080, Mode: PublishHTTP}), nil, "mode http needs a published port"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.spec.WithDefaults().HTTPRoutes()
			if c.errMsg != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.errMsg) {
					t.Fatalf("err = %v, want %q", err, c.errMsg)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("routes %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestPublishedPortConflicts(t *testing.T) {
	s, f := newService(t, withPorts("web", nil, PortConfig{Target: 8080, Published: 8080}, PortConfig{Target: 53, Published: 5353, Protocol: ProtocolUDP}))
	mustApply(t, f, CreateService{Service: Service{ID: "s2", Spec: withPorts("api",
		map[string]string{LabelHTTPHost: "app.example.com"}, PortConfig{Target: 8080, Published: 80, Mode: PublishHTTP})}})
	mustApply(t, f, CreateService{Service: Service{ID: "s3", Spec: withPorts("hp", nil, PortConfig{Target: 80, Published: 9000, Mode: PublishHost})}})
	mustApply(t, f, RegisterNode{Node: Node{ID: "n2", Hostname: "h2", Role: RoleManager, RaftAddr: "198.18.0.12:2378"}})

	cases := []struct {
		name string
		spec ServiceSpec
		msg  string // "" when accepted
	}{
		{"same port", withPorts("web2", nil, PortConfig{Target: 9090, Published: 8080}),
			"--publish 8080:9090/tcp: port 8080/tcp is already published by service web (mode ingress): choose another published port"},
		{"same port, other protocol", withPorts("web2", nil, PortConfig{Target: 9090, Published: 8080, Protocol: ProtocolUDP}), ""},
		{"host against ingress", withPorts("web2", nil, PortConfig{Target: 9090, Published: 5353, Protocol: ProtocolUDP, Mode: PublishHost}),
			"already published by service web (mode ingress)"},
		{"host and host", withPorts("web2", nil, PortConfig{Target: 9090, Published: 9000, Mode: PublishHost}), ""},
		{"http on an ingress port", withPorts("web2", nil, PortConfig{Target: 9090, Published: 8080, Mode: PublishHTTP}),
			"already published by service web"},
		{"http, another host", withPorts("web2", map[string]string{LabelHTTPHost: "b.example.com"},
			PortConfig{Target: 9090, Published: 80, Mode: PublishHTTP}), ""},
		{"http, another path", withPorts("web2", map[string]string{LabelHTTPHost: "app.example.com", LabelHTTPPath: "/api"},
			PortConfig{Target: 9090, Published: 80, Mode: PublishHTTP}), ""},
		{"http, same host and path", withPorts("web2", map[string]string{LabelHTTPHost: "x.org,app.example.com"},
			PortConfig{Target: 9090, Published: 80, Mode: PublishHTTP}),
			"HTTP port 80: app.example.com, path / is already routed to service api"},
		{"labels only on 80", withPorts("web2", map[string]string{LabelHTTPPort: "8080", LabelHTTPHost: "app.example.com"}),
			"already routed to service api"},
		{"ingress on the http port", withPorts("web2", nil, PortConfig{Target: 9090, Published: 80}),
			"port 80/tcp is already published by service api (mode http)"},
		{"cluster port", withPorts("web2", nil, PortConfig{Target: 9090, Published: 2378}), "is the cluster's own port"},
		{"DNS port", withPorts("web2", nil, PortConfig{Target: 5353, Published: 53, Protocol: ProtocolUDP}), "port 53 is the nodes' DNS server"},
		{"DNS port, mode host", withPorts("web2", nil, PortConfig{Target: 5353, Published: 53, Mode: PublishHost}), "port 53 is the nodes' DNS server"},
		{"no network", func() ServiceSpec {
			s := withPorts("web2", nil, PortConfig{Target: 9090, Published: 7000})
			s.Networks = nil
			return s
		}(), "add --network NET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := apply(t, f, CreateService{Service: Service{ID: "new", Spec: c.spec}})
			if c.msg == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				mustApply(t, f, RemoveService{ID: "new"})
				return
			}
			if err == nil || !strings.Contains(Message(err), c.msg) {
				t.Fatalf("err = %v, want %q", err, c.msg)
			}
			if n, _ := s.ServiceCounts(); n != 3 {
				t.Fatalf("%d services stored after a refusal", n)
			}
		})
	}

	// An update keeps its own ports, and is checked like a create.
	mustApply(t, f, UpdateService{ID: "s1", Spec: withPorts("web", nil, PortConfig{Target: 8081, Published: 8080})})
	if _, err := apply(t, f, UpdateService{ID: "s1", Spec: withPorts("web", nil, PortConfig{Target: 80, Published: 9000})}); !errors.Is(err, ErrConflict) {
		t.Fatalf("update onto hp's host port: %v", err)
	}
}
