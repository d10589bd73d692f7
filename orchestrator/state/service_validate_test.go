package state

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// webSpec is a valid replicated spec on network appnet.
func webSpec() ServiceSpec {
	return ServiceSpec{
		Name: "web", Image: "nginx:1.27", Replicas: 3,
		Networks: []NetworkAttachment{{Target: "appnet", Aliases: []string{"www"}}},
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*ServiceSpec)
		want string // a substring of the error; "" for valid
	}{
		{"valid", func(*ServiceSpec) {}, ""},
		{"full", func(s *ServiceSpec) {
			s.Env, s.Labels = []string{"A=1", "B"}, map[string]string{"team": "x"}
			s.Constraints = []string{"node.labels.ssd==true", "node.role != manager", "node.platform.os==linux"}
			s.Preferences = []string{"spread=node.labels.zone"}
			s.Resources = ResourceRequirements{Reservations: Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
				Limits: Resources{NanoCPUs: 1e9, MemoryBytes: 128 << 20}}
			s.RestartPolicy = RestartPolicy{Condition: RestartOnFailure, Delay: time.Second, MaxAttempts: 3, Window: time.Minute}
			s.Healthcheck = &Healthcheck{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: time.Second, Retries: 3}
			s.Ports = []PortConfig{{Target: 80, Published: 8080}, {Target: 53, Published: 53, Protocol: ProtocolUDP}, {Target: 80, Published: 8081, Mode: PublishHost}}
			s.Mounts = []Mount{{Type: MountBind, Source: "/srv", Target: "/data"}, {Source: "cache", Target: "/cache"}, {Type: MountTmpfs, Target: "/tmp"}}
		}, ""},
		{"no name", func(s *ServiceSpec) { s.Name = "" }, "--name: required"},
		{"dotted name", func(s *ServiceSpec) { s.Name = "web.1" }, `--name "web.1": want letters`},
		{"long name", func(s *ServiceSpec) { s.Name = strings.Repeat("a", 64) }, "at most 63 characters"},
		{"no image", func(s *ServiceSpec) { s.Image = "" }, "IMAGE: required"},
		{"image with space", func(s *ServiceSpec) { s.Image = "my app" }, `IMAGE "my app"`},
		{"mode", func(s *ServiceSpec) { s.Mode = "daemon" }, `--mode "daemon": want replicated or global`},
		{"global replicas", func(s *ServiceSpec) { s.Mode = ModeGlobal }, "--replicas: only for --mode replicated"},
		{"env", func(s *ServiceSpec) { s.Env = []string{"=x"} }, `--env "=x": want KEY=VALUE`},
		{"label", func(s *ServiceSpec) { s.Labels = map[string]string{"": "x"} }, `--label "=x"`},
		{"network empty", func(s *ServiceSpec) { s.Networks = []NetworkAttachment{{}} }, "--network: a network name or ID is required"},
		{"network twice", func(s *ServiceSpec) { s.Networks = append(s.Networks, NetworkAttachment{Target: "appnet"}) }, "--network appnet: given twice"},
		{"alias", func(s *ServiceSpec) { s.Networks[0].Aliases = []string{"b@d"} }, `alias "b@d" is not a DNS name`},
		{"constraint op", func(s *ServiceSpec) { s.Constraints = []string{"node.labels.ssd=true"} },
			`--constraint "node.labels.ssd=true": want KEY==VALUE or KEY!=VALUE`},
		{"constraint key", func(s *ServiceSpec) { s.Constraints = []string{"node.name==h1"} }, "unknown key node.name"},
		{"constraint role", func(s *ServiceSpec) { s.Constraints = []string{"node.role==boss"} }, "node.role is manager or worker"},
		{"constraint value", func(s *ServiceSpec) { s.Constraints = []string{"node.id=="} }, "want one value after =="},
		{"preference", func(s *ServiceSpec) { s.Preferences = []string{"zone"} }, `--placement-pref "zone": want spread=node.labels.KEY`},
		{"preference key", func(s *ServiceSpec) { s.Preferences = []string{"spread=zone"} }, "unknown key zone"},
		{"negative cpu", func(s *ServiceSpec) { s.Resources.Reservations.NanoCPUs = -1 }, "--reserve-cpu: must not be negative"},
		{"limit below reservation", func(s *ServiceSpec) {
			s.Resources = ResourceRequirements{Reservations: Resources{MemoryBytes: 512 << 20}, Limits: Resources{MemoryBytes: 256 << 20}}
		}, "--limit-memory 256MiB is below --reserve-memory 512MiB"},
		{"cpu limit below reservation", func(s *ServiceSpec) {
			s.Resources = ResourceRequirements{Reservations: Resources{NanoCPUs: 2e9}, Limits: Resources{NanoCPUs: 15e8}}
		}, "--limit-cpu 1.5 is below --reserve-cpu 2"},
		{"tiny memory limit", func(s *ServiceSpec) { s.Resources.Limits.MemoryBytes = 1 << 20 }, "--limit-memory 1MiB: the minimum is 6MiB"},
		{"restart condition", func(s *ServiceSpec) { s.RestartPolicy.Condition = "always" }, `--restart-condition "always": want any, on-failure or none`},
		{"restart delay", func(s *ServiceSpec) { s.RestartPolicy.Delay = -time.Second }, "--restart-delay -1s: must not be negative"},
		{"health test", func(s *ServiceSpec) { s.Healthcheck = &Healthcheck{Test: []string{"curl"}} }, "--health-cmd"},
		{"health interval", func(s *ServiceSpec) { s.Healthcheck = &Healthcheck{Interval: time.Microsecond} }, "--health-interval 1µs: want at least 1ms"},
		{"health retries", func(s *ServiceSpec) { s.Healthcheck = &Healthcheck{Retries: -1} }, "--health-retries -1"},
		{"grace", func(s *ServiceSpec) { s.StopGracePeriod = -1 }, "--stop-grace-period"},
		{"endpoint mode", func(s *ServiceSpec) { s.EndpointMode = "lb" }, `--endpoint-mode "lb": want vip or dnsrr`},
		{"port target", func(s *ServiceSpec) { s.Ports = []PortConfig{{Published: 80}} }, "--publish 80:0/tcp: the target (container) port is required"},
		{"port protocol", func(s *ServiceSpec) { s.Ports = []PortConfig{{Target: 80, Protocol: "sctp"}} }, `protocol "sctp": want tcp or udp`},
		{"port mode", func(s *ServiceSpec) { s.Ports = []PortConfig{{Target: 80, Mode: "mesh"}} }, `mode "mesh": want ingress, host or http`},
		{"http udp", func(s *ServiceSpec) { s.Ports = []PortConfig{{Target: 80, Protocol: ProtocolUDP, Mode: PublishHTTP}} }, "mode http needs protocol tcp"},
		{"dnsrr ingress", func(s *ServiceSpec) {
			s.EndpointMode, s.Ports = EndpointDNSRR, []PortConfig{{Target: 80, Published: 80}}
		},
			"ingress ports need --endpoint-mode vip"},
		{"duplicate port", func(s *ServiceSpec) {
			s.Ports = []PortConfig{{Target: 80, Published: 8080}, {Target: 81, Published: 8080}}
		},
			"port 8080/tcp is published twice"},
		{"mount type", func(s *ServiceSpec) { s.Mounts = []Mount{{Type: "nfs", Target: "/x"}} }, `type "nfs": want bind, volume or tmpfs`},
		{"mount target", func(s *ServiceSpec) { s.Mounts = []Mount{{Target: "data"}} }, "target must be an absolute path"},
		{"mount twice", func(s *ServiceSpec) { s.Mounts = []Mount{{Target: "/d"}, {Target: "/d/"}} }, "target /d/ is mounted twice"},
		{"bind source", func(s *ServiceSpec) { s.Mounts = []Mount{{Type: MountBind, Source: "rel", Target: "/d"}} }, "absolute source path"},
		{"volume path", func(s *ServiceSpec) { s.Mounts = []Mount{{Source: "/srv", Target: "/d"}} }, "use type=bind for a host path"},
		{"tmpfs source", func(s *ServiceSpec) { s.Mounts = []Mount{{Type: MountTmpfs, Source: "x", Target: "/d"}} }, "a tmpfs mount takes no source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := webSpec()
			c.edit(&s)
			err := s.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, c.want)
			}
		})
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	err := ServiceSpec{Mode: "x"}.Validate()
	for _, want := range []string{"--name: required", "IMAGE: required", `--mode "x"`} {
		if !strings.Contains(Message(err), want) {
			t.Errorf("%q lacks %q", Message(err), want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	in := ServiceSpec{Name: "w", Image: "i", Env: []string{}, Constraints: []string{" node.labels.a == b "},
		Ports: []PortConfig{{Target: 80}}, Mounts: []Mount{{Target: "/d"}}}
	s := in.WithDefaults()
	if s.Mode != ModeReplicated || s.EndpointMode != EndpointVIP || s.RestartPolicy.Condition != RestartAny {
		t.Fatalf("defaults: %+v", s)
	}
	if s.Env != nil || s.Constraints[0] != "node.labels.a==b" || s.Ports[0].Protocol != ProtocolTCP ||
		s.Ports[0].Mode != PublishIngress || s.Mounts[0].Type != MountVolume {
		t.Fatalf("normalized: %+v", s)
	}
	if in.Ports[0].Protocol != "" || in.Constraints[0] != " node.labels.a == b " {
		t.Fatal("WithDefaults changed its receiver's slices")
	}
	if !s.SameTasks(func() ServiceSpec { c := s; c.Replicas = 9; return c }()) {
		t.Fatal("a scale changed the tasks")
	}
}

func TestHumanUnits(t *testing.T) {
	for n, want := range map[int64]string{512 << 20: "512MiB", 3 << 29: "1.5GiB", 100: "100B", 2048: "2KiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %s, want %s", n, got, want)
		}
	}
	if got := HumanCPUs(25e8); got != "2.5" {
		t.Errorf("HumanCPUs = %s", got)
	}
}
