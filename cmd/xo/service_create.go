package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// serviceCreateOptions are the flags of xo service create.
type serviceCreateOptions struct {
	name, mode, entrypoint, endpointMode  string
	replicas                              uint64
	networks                              networkList
	env, labels, constraints, preferences []string
	reserveCPU, limitCPU                  nanoCPUs
	reserveMemory, limitMemory            memBytes
	restartCondition                      string
	restartDelay, restartWindow           time.Duration
	restartMaxAttempts                    uint64
	healthCmd                             string
	healthInterval, healthTimeout         time.Duration
	healthStartPeriod                     time.Duration
	healthRetries                         int
	noHealthcheck                         bool
	stopGracePeriod                       time.Duration
	ports                                 portList
	mounts                                mountList
	detach, quiet                         bool
}

func newServiceCreateCmd(opts *rootOptions) *cobra.Command {
	return serviceCreateCmd(func(cmd *cobra.Command, spec api.ServiceSpec) error {
		c := opts.client()
		svc, err := c.ServiceCreate(cmd.Context(), spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), svc.ID)
		return follow(cmd, c, svc.ID)
	})
}

// follow waits for the service to converge, printing its progress, unless
// --detach; --quiet waits without printing.
func follow(cmd *cobra.Command, c serviceReader, ref string) error {
	if detach, _ := cmd.Flags().GetBool("detach"); detach {
		return nil
	}
	w := cmd.OutOrStdout()
	if quiet, _ := cmd.Flags().GetBool("quiet"); quiet {
		w = io.Discard
	}
	return waitConverged(cmd.Context(), c, w, ref)
}

// serviceCreateCmd is xo service create, handing the spec to create.
func serviceCreateCmd(create func(*cobra.Command, api.ServiceSpec) error) *cobra.Command {
	o := &serviceCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new service",
		Long: "Create a service, as docker service create does, and print its ID. The agent\n" +
			"checks the spec against the cluster first (constraints, networks, resources,\n" +
			"the name) and stores nothing when it refuses it. COMMAND and ARG replace the\n" +
			"image's CMD; --entrypoint its ENTRYPOINT.\n\n" +
			"Then, unless --detach, it follows the tasks until every one runs (a line per\n" +
			"slot as it changes state) and stays up for a second; an interrupt stops the\n" +
			"watching, not the service.\n\n" +
			"--health-cmd takes a shell command, run as [\"CMD-SHELL\", command], or a JSON\n" +
			"array run without a shell, for images without one (FROM scratch):\n" +
			"--health-cmd '[\"CMD\", \"/demoapp\", \"-check\"]' (\"CMD\" may be left out).\n\n" +
			"--publish P:T answers on port P of every node (the routing mesh); mode=host only\n" +
			"where tasks run; mode=http puts the service behind the node's HTTP proxy.",
		Example: "  xo service create --name web --replicas 3 --network appnet -p 8080:80 nginx:1.27\n" +
			"  xo service create --name mon --mode global --constraint node.role==manager prom/node-exporter",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := o.spec(cmd, args)
			if err != nil {
				return usagef(cmd, "%w", err)
			}
			return create(cmd, spec)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after IMAGE belong to the command
	o.addFlags(cmd)
	return cmd
}

func (o *serviceCreateOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&o.name, "name", "", "service name")
	fl.StringVar(&o.mode, "mode", api.ModeReplicated, "service mode: replicated or global (one task per node)")
	fl.Uint64Var(&o.replicas, "replicas", 1, "number of tasks (replicated mode)")
	fl.Var(&o.networks, "network", "attach to a network: NET, or name=NET,alias=A (repeatable)")
	fl.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass this shell's (repeatable)")
	fl.StringArrayVarP(&o.labels, "label", "l", nil, "service label: KEY=VALUE (repeatable)")
	fl.StringArrayVar(&o.constraints, "constraint", nil, "placement constraint, such as node.labels.ssd==true or node.role!=manager (repeatable)")
	fl.StringArrayVar(&o.preferences, "placement-pref", nil, "placement preference: spread=node.labels.KEY (repeatable)")
	fl.Var(&o.reserveCPU, "reserve-cpu", "CPUs each task reserves on its node, such as 0.5")
	fl.Var(&o.reserveMemory, "reserve-memory", "memory each task reserves on its node, such as 512M or 1g")
	fl.Var(&o.limitCPU, "limit-cpu", "most CPUs a task may use")
	fl.Var(&o.limitMemory, "limit-memory", "most memory a task may use")
	fl.StringVar(&o.restartCondition, "restart-condition", api.RestartAny, "replace a task that stops by itself: any, on-failure or none")
	fl.DurationVar(&o.restartDelay, "restart-delay", 0,
		"wait between a task's stop and its replacement (default 0s: at once, where Docker waits 5s)")
	fl.Uint64Var(&o.restartMaxAttempts, "restart-max-attempts", 0, "give up replacing a task after this many restarts (default 0: never)")
	fl.DurationVar(&o.restartWindow, "restart-window", 0, "count only the restarts within this window (default 0: all)")
	fl.StringVar(&o.healthCmd, "health-cmd", "", `command that checks health: a shell command, or a JSON array such as '["CMD", "/app", "-check"]'`)
	fl.DurationVar(&o.healthInterval, "health-interval", 0, "time between health checks (default: the image's)")
	fl.DurationVar(&o.healthTimeout, "health-timeout", 0, "longest a health check may run (default: the image's)")
	fl.DurationVar(&o.healthStartPeriod, "health-start-period", 0, "start-up time during which failed checks do not count (default: the image's)")
	fl.IntVar(&o.healthRetries, "health-retries", 0, "consecutive failed checks that make a task unhealthy (default: the image's)")
	fl.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "disable the image's healthcheck")
	fl.DurationVar(&o.stopGracePeriod, "stop-grace-period", 0, "time to wait before killing a stopping task (default: the engine's, 10s)")
	fl.StringVar(&o.endpointMode, "endpoint-mode", api.EndpointVIP, "vip (one virtual IP) or dnsrr (DNS round robin)")
	fl.VarP(&o.ports, "publish", "p", "publish a port: PUBLISHED:TARGET[/PROTOCOL], or "+
		"published=P,target=T,protocol=tcp|udp,mode=ingress|host|http (repeatable)")
	fl.Var(&o.mounts, "mount", "mount: type=bind|volume|tmpfs,source=S,target=T[,readonly] (repeatable)")
	fl.StringVar(&o.entrypoint, "entrypoint", "", "replace the image's ENTRYPOINT (split on spaces)")
	fl.BoolVarP(&o.detach, "detach", "d", false, "exit at once instead of waiting for the service to converge")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "print only the service ID, not the progress")
}

// spec builds the spec from the flags and IMAGE [COMMAND] [ARG...]. The
// agent checks the rest.
func (o *serviceCreateOptions) spec(cmd *cobra.Command, args []string) (api.ServiceSpec, error) {
	s := api.ServiceSpec{
		Name: o.name, Image: args[0], Mode: o.mode, Networks: o.networks,
		Constraints: o.constraints, Preferences: o.preferences,
		Resources: api.ResourceRequirements{
			Reservations: api.Resources{NanoCPUs: int64(o.reserveCPU), MemoryBytes: int64(o.reserveMemory)},
			Limits:       api.Resources{NanoCPUs: int64(o.limitCPU), MemoryBytes: int64(o.limitMemory)},
		},
		RestartPolicy: api.RestartPolicy{Condition: o.restartCondition, Delay: o.restartDelay,
			Window: o.restartWindow, MaxAttempts: o.restartMaxAttempts},
		StopGracePeriod: o.stopGracePeriod, EndpointMode: o.endpointMode, Ports: o.ports, Mounts: o.mounts,
	}
	if len(args) > 1 {
		s.Args = args[1:]
	}
	if o.entrypoint != "" {
		s.Command = strings.Fields(o.entrypoint)
	}
	if o.mode != api.ModeGlobal || cmd.Flags().Changed("replicas") {
		s.Replicas = o.replicas // a global service with --replicas is refused by the agent
	}
	for _, e := range o.env {
		k, _, hasValue := strings.Cut(e, "=")
		if k == "" {
			return s, fmt.Errorf("invalid environment variable: %s", e)
		}
		if v, ok := os.LookupEnv(k); ok && !hasValue {
			e = k + "=" + v
		}
		s.Env = append(s.Env, e)
	}
	for _, l := range o.labels {
		k, v, _ := strings.Cut(l, "=")
		if strings.TrimSpace(k) == "" {
			return s, fmt.Errorf("invalid label '%s': empty name", l)
		}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[k] = v
	}
	var err error
	s.Healthcheck, err = o.healthcheck(cmd)
	return s, err
}

// healthcheck is nil (the image's) unless a --health-* flag is given.
func (o *serviceCreateOptions) healthcheck(cmd *cobra.Command) (*api.Healthcheck, error) {
	set := false
	for _, f := range []string{"health-cmd", "health-interval", "health-timeout", "health-start-period", "health-retries"} {
		set = set || cmd.Flags().Changed(f)
	}
	if o.noHealthcheck {
		if set {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &api.Healthcheck{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	h := &api.Healthcheck{Interval: o.healthInterval, Timeout: o.healthTimeout,
		StartPeriod: o.healthStartPeriod, Retries: o.healthRetries}
	if o.healthCmd == "" {
		return h, nil
	}
	if !strings.HasPrefix(strings.TrimSpace(o.healthCmd), "[") {
		h.Test = []string{"CMD-SHELL", o.healthCmd}
		return h, nil
	}
	if err := json.Unmarshal([]byte(o.healthCmd), &h.Test); err != nil || len(h.Test) == 0 {
		return nil, fmt.Errorf(`invalid --health-cmd %s: want a shell command, or a JSON array such as ["CMD", "/app", "-check"]`, o.healthCmd)
	}
	switch h.Test[0] {
	case "CMD", "CMD-SHELL", "NONE":
	default:
		h.Test = append([]string{"CMD"}, h.Test...)
	}
	return h, nil
}
