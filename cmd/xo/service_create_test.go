package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// parseCreate runs xo service create's flag parsing without an agent.
func parseCreate(args ...string) (api.ServiceSpec, error) {
	var got api.ServiceSpec
	cmd := serviceCreateCmd(func(_ *cobra.Command, s api.ServiceSpec) error { got = s; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return got, err
}

// spec is the spec of `xo service create IMG` changed by edit.
func spec(edit func(*api.ServiceSpec)) api.ServiceSpec {
	s := api.ServiceSpec{Image: "img", Mode: "replicated", Replicas: 1, EndpointMode: "vip",
		RestartPolicy: api.RestartPolicy{Condition: "any"}}
	if edit != nil {
		edit(&s)
	}
	return s
}

func TestServiceCreateFlags(t *testing.T) {
	t.Setenv("FROM_SHELL", "v")
	for _, tc := range []struct {
		name string
		args []string
		want api.ServiceSpec
	}{
		{"defaults", []string{"img"}, spec(nil)},
		{"name and global", []string{"--name", "web", "--mode", "global", "img"},
			spec(func(s *api.ServiceSpec) { s.Name, s.Mode, s.Replicas = "web", "global", 0 })},
		{"global with replicas, for the agent to refuse", []string{"--mode", "global", "--replicas", "2", "img"},
			spec(func(s *api.ServiceSpec) { s.Mode, s.Replicas = "global", 2 })},
		{"no replicas", []string{"--replicas", "0", "img"}, spec(func(s *api.ServiceSpec) { s.Replicas = 0 })},
		{"networks", []string{"--network", "appnet", "--network", "name=db,alias=pg,alias=postgres", "--network", "web,alias=www", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Networks = []api.NetworkAttachment{{Target: "appnet"}, {Target: "db", Aliases: []string{"pg", "postgres"}},
					{Target: "web", Aliases: []string{"www"}}}
			})},
		{"env", []string{"-e", "A=1", "-e", "FROM_SHELL", "--env", "UNSET_HERE", "--env", "B=x=y", "img"},
			spec(func(s *api.ServiceSpec) { s.Env = []string{"A=1", "FROM_SHELL=v", "UNSET_HERE", "B=x=y"} })},
		{"labels", []string{"-l", "a=b", "--label", "flag", "img"},
			spec(func(s *api.ServiceSpec) { s.Labels = map[string]string{"a": "b", "flag": ""} })},
		{"placement", []string{"--constraint", "node.labels.ssd==true", "--constraint", "node.role!=manager",
			"--placement-pref", "spread=node.labels.zone", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Constraints = []string{"node.labels.ssd==true", "node.role!=manager"}
				s.Preferences = []string{"spread=node.labels.zone"}
			})},
		{"resources", []string{"--reserve-cpu", "0.5", "--reserve-memory", "512M", "--limit-cpu", "2", "--limit-memory", "1g", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Resources = api.ResourceRequirements{Reservations: api.Resources{NanoCPUs: 5e8, MemoryBytes: 512 << 20},
					Limits: api.Resources{NanoCPUs: 2e9, MemoryBytes: 1 << 30}}
			})},
		{"memory formats", []string{"--reserve-memory", "1.5GiB", "--limit-memory", "2 gb", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Resources.Reservations.MemoryBytes, s.Resources.Limits.MemoryBytes = 3<<29, 2<<30
			})},
		{"memory in bytes and kb", []string{"--reserve-memory", "2048", "--limit-memory", "64kb", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Resources.Reservations.MemoryBytes, s.Resources.Limits.MemoryBytes = 2048, 64<<10
			})},
		{"cpu fractions", []string{"--reserve-cpu", "1.25", "--limit-cpu", "0.000000001", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Resources.Reservations.NanoCPUs, s.Resources.Limits.NanoCPUs = 1250000000, 1
			})},
		{"restart policy", []string{"--restart-condition", "on-failure", "--restart-delay", "2s",
			"--restart-max-attempts", "3", "--restart-window", "1m", "img"},
			spec(func(s *api.ServiceSpec) {
				s.RestartPolicy = api.RestartPolicy{Condition: "on-failure", Delay: 2 * time.Second, MaxAttempts: 3, Window: time.Minute}
			})},
		{"health shell", []string{"--health-cmd", "curl -f localhost", "--health-interval", "5s", "--health-retries", "3",
			"--health-timeout", "2s", "--health-start-period", "10s", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Healthcheck = &api.Healthcheck{Test: []string{"CMD-SHELL", "curl -f localhost"}, Interval: 5 * time.Second,
					Retries: 3, Timeout: 2 * time.Second, StartPeriod: 10 * time.Second}
			})},
		{"health exec", []string{"--health-cmd", `["CMD", "/demoapp", "-check"]`, "img"},
			spec(func(s *api.ServiceSpec) {
				s.Healthcheck = &api.Healthcheck{Test: []string{"CMD", "/demoapp", "-check"}}
			})},
		{"health exec without CMD", []string{"--health-cmd", `["/demoapp","-check"]`, "img"},
			spec(func(s *api.ServiceSpec) {
				s.Healthcheck = &api.Healthcheck{Test: []string{"CMD", "/demoapp", "-check"}}
			})},
		{"health interval only", []string{"--health-interval", "1s", "img"},
			spec(func(s *api.ServiceSpec) { s.Healthcheck = &api.Healthcheck{Interval: time.Second} })},
		{"no healthcheck", []string{"--no-healthcheck", "img"},
			spec(func(s *api.ServiceSpec) { s.Healthcheck = &api.Healthcheck{Test: []string{"NONE"}} })},
		{"stop and endpoint", []string{"--stop-grace-period", "30s", "--endpoint-mode", "dnsrr", "img"},
			spec(func(s *api.ServiceSpec) { s.StopGracePeriod, s.EndpointMode = 30*time.Second, "dnsrr" })},
		{"publish", []string{"-p", "8080:80", "-p", "53:53/udp", "--publish", "9000",
			"-p", "published=443,target=8443,protocol=TCP,mode=http", "-p", "target=22,mode=host", "img"},
			spec(func(s *api.ServiceSpec) {
				s.Ports = []api.PortConfig{{Published: 8080, Target: 80}, {Published: 53, Target: 53, Protocol: "udp"},
					{Target: 9000}, {Published: 443, Target: 8443, Protocol: "tcp", Mode: "http"}, {Target: 22, Mode: "host"}}
			})},
		{"mounts", []string{"--mount", "type=bind,source=/x,target=/y,readonly", "--mount", "src=data,dst=/data",
			"--mount", `type=tmpfs,"target=/t,mp",ro=false`, "img"},
			spec(func(s *api.ServiceSpec) {
				s.Mounts = []api.Mount{{Type: "bind", Source: "/x", Target: "/y", ReadOnly: true},
					{Type: "volume", Source: "data", Target: "/data"}, {Type: "tmpfs", Target: "/t,mp"}}
			})},
		{"command", []string{"--entrypoint", "/bin/sh -c", "-d", "-q", "img", "echo hi", "--not-a-flag"},
			spec(func(s *api.ServiceSpec) {
				s.Command, s.Args = []string{"/bin/sh", "-c"}, []string{"echo hi", "--not-a-flag"}
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCreate(tc.args...)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("xo service create %s: %v\n got %+v\nwant %+v", strings.Join(tc.args, " "), err, got, tc.want)
			}
		})
	}
}

func TestServiceCreateBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--reserve-memory", "1x", "img"}, `invalid argument "1x" for "--reserve-memory" flag: invalid size: '1x'`},
		{[]string{"--limit-memory", "1ib", "img"}, `invalid argument "1ib" for "--limit-memory" flag: invalid size: '1ib'`},
		{[]string{"--limit-memory", "-1g", "img"}, `invalid argument "-1g" for "--limit-memory" flag: invalid size: '-1g'`},
		{[]string{"--reserve-cpu", "abc", "img"}, `invalid argument "abc" for "--reserve-cpu" flag: failed to parse abc as a rational number`},
		{[]string{"--limit-cpu", "0.0000000001", "img"}, `invalid argument "0.0000000001" for "--limit-cpu" flag: value is too precise`},
		{[]string{"--replicas", "-1", "img"}, `invalid argument "-1" for "--replicas" flag: strconv.ParseUint: parsing "-1": invalid syntax`},
		{[]string{"--restart-delay", "soon", "img"}, `invalid argument "soon" for "--restart-delay" flag: time: invalid duration "soon"`},
		{[]string{"-p", "80:http", "img"}, `invalid argument "80:http" for "-p, --publish" flag: invalid containerPort: http`},
		{[]string{"-p", "x:80", "img"}, `invalid argument "x:80" for "-p, --publish" flag: invalid hostPort: x`},
		{[]string{"-p", "published=80", "img"}, `missing mandatory field 'target'`},
		{[]string{"-p", "target=80,color=red", "img"}, `invalid field key: color`},
		{[]string{"-p", "target=99999", "img"}, `invalid target port "99999": want a number from 0 to 65535`},
		{[]string{"--mount", "type=bind,source=/x", "img"}, `target is required`},
		{[]string{"--mount", "type=bind,bogus", "img"}, `invalid field 'bogus' must be a key=value pair`},
		{[]string{"--mount", "target=/x,size=1", "img"}, `unexpected key 'size' in 'size=1'`},
		{[]string{"--mount", "target=/x,ro=maybe", "img"}, `invalid value for ro: maybe`},
		{[]string{"--network", "alias=a", "img"}, `network name/id is not specified`},
		{[]string{"--network", "name=a,ip=10.0.0.1", "img"}, `invalid field key ip`},
		{[]string{"-e", "=x", "img"}, `invalid environment variable: =x`},
		{[]string{"-l", "=x", "img"}, `invalid label '=x': empty name`},
		{[]string{"--health-cmd", "[bad", "img"}, `invalid --health-cmd [bad: want a shell command, or a JSON array`},
		{[]string{"--no-healthcheck", "--health-retries", "2", "img"}, `--no-healthcheck conflicts with --health-* options`},
		{[]string{}, `requires at least 1 arg(s), only received 0`},
	} {
		if _, err := parseCreate(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("xo service create %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
