package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// updateAttempts bounds the read-update rounds of one update when other
// writers keep changing the service.
const updateAttempts = 5

// serviceUpdateOptions are the flags of xo service update.
type serviceUpdateOptions struct {
	image                string
	envAdd, envRm        []string
	labelAdd, labelRm    []string
	replicas             uint64
	publishAdd           portList
	publishRm            []string
	force, detach, quiet bool
	update, rollback     policyFlags
}

func newServiceUpdateCmd(opts *rootOptions) *cobra.Command {
	o := &serviceUpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Long: "Change a service, as docker service update does: the flags edit its spec, which\n" +
			"is written back at the version read (a change made meanwhile makes it read\n" +
			"again and retry). When what its tasks run changes (or with --force), a rolling\n" +
			"update replaces them: --update-parallelism at a time, each old task taken out\n" +
			"of service (DNS, load balancers) before it is stopped, and, with start-first,\n" +
			"only once its replacement serves (runs and is healthy). A new task that fails,\n" +
			"or stops within --update-monitor, counts as a failure; past\n" +
			"--update-max-failure-ratio the update pauses, goes on, or rolls back\n" +
			"(--update-failure-action).\n\n" +
			"Unless --detach, it follows the update (a line per slot) until it completes,\n" +
			"and fails when it paused or rolled back, saying why.",
		Example: "  xo service update --image xo-demo:v2 --update-order start-first web\n" +
			"  xo service update --env-add LOG=debug --update-failure-action rollback web\n" +
			"  xo service update --force -d web",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeServices(opts),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(cmd); err != nil {
				return usagef(cmd, "%w", err)
			}
			c := opts.client()
			before, after, err := o.write(cmd, c, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), after.Name)
			return followUpdate(cmd, c, after.ID, before, after, false)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.image, "image", "", "run this image")
	fl.StringArrayVar(&o.envAdd, "env-add", nil, "add or change an environment variable: KEY=VALUE (repeatable)")
	fl.StringArrayVar(&o.envRm, "env-rm", nil, "remove an environment variable: KEY (repeatable)")
	fl.StringArrayVar(&o.labelAdd, "label-add", nil, "add or change a service label: KEY=VALUE (repeatable)")
	fl.StringArrayVar(&o.labelRm, "label-rm", nil, "remove a service label: KEY (repeatable)")
	fl.Uint64Var(&o.replicas, "replicas", 0, "number of tasks (replicated mode)")
	fl.Var(&o.publishAdd, "publish-add", "publish a port: PUBLISHED:TARGET[/PROTOCOL], or "+
		"published=P,target=T,protocol=tcp|udp,mode=ingress|host|http (repeatable)")
	fl.StringArrayVar(&o.publishRm, "publish-rm", nil, "stop publishing a port: [PUBLISHED:]TARGET[/PROTOCOL] (repeatable)")
	fl.BoolVar(&o.force, "force", false, "replace every task even when nothing changed")
	o.update.add(fl, "update", "an update")
	o.rollback.add(fl, "rollback", "a rollback")
	fl.BoolVarP(&o.detach, "detach", "d", false, "exit at once instead of following the update")
	fl.BoolVarP(&o.quiet, "quiet", "q", false, "print only the service name, not the progress")
	return cmd
}

// check refuses flag values that are wrong whatever the service.
func (o *serviceUpdateOptions) check(cmd *cobra.Command) error {
	for _, e := range o.envAdd {
		if k, _, _ := strings.Cut(e, "="); strings.TrimSpace(k) == "" {
			return fmt.Errorf("invalid --env-add %q: want KEY=VALUE, or KEY to pass this shell's", e)
		}
	}
	for _, l := range o.labelAdd {
		if k, _, _ := strings.Cut(l, "="); strings.TrimSpace(k) == "" {
			return fmt.Errorf("invalid --label-add %q: want KEY=VALUE", l)
		}
	}
	for _, flag := range []struct {
		name string
		keys []string
	}{{"--env-rm", o.envRm}, {"--label-rm", o.labelRm}} {
		for _, k := range flag.keys {
			if strings.TrimSpace(k) == "" || strings.Contains(k, "=") {
				return fmt.Errorf("invalid %s %q: want a KEY", flag.name, k)
			}
		}
	}
	for _, p := range o.publishRm {
		if _, err := parsePortRm(p); err != nil {
			return err
		}
	}
	if cmd.Flags().Changed("image") && strings.TrimSpace(o.image) == "" {
		return errors.New("invalid --image \"\": want an image reference like nginx:1.27")
	}
	return nil
}

// write reads the service, applies the flags and writes it back at the
// version read, again after a conflict. It returns the service before
// and after.
func (o *serviceUpdateOptions) write(cmd *cobra.Command, c *api.Client, ref string) (before, after api.Service, err error) {
	for range updateAttempts {
		if before, err = c.Service(cmd.Context(), ref); err != nil {
			return before, after, noSuchService(ref, err)
		}
		if before.External {
			return before, after, fmt.Errorf("service %s is external: its tasks are containers run by hand with "+
				"--label xo.service=%s; run xo service create --name %s to manage it", before.Name, before.Name, before.Name)
		}
		var spec api.ServiceSpec
		if spec, err = o.apply(cmd, before.Spec); err != nil {
			return before, after, usagef(cmd, "%w", err)
		}
		after, err = c.ServiceUpdate(cmd.Context(), before.ID, api.ServiceUpdateRequest{Version: before.Version, Spec: spec})
		if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "changed since version") {
			return before, after, err
		}
	}
	return before, after, err
}

// apply returns spec changed by the flags; spec is not modified.
func (o *serviceUpdateOptions) apply(cmd *cobra.Command, spec api.ServiceSpec) (api.ServiceSpec, error) {
	fl := cmd.Flags()
	if fl.Changed("image") {
		spec.Image = o.image
	}
	if fl.Changed("replicas") {
		spec.Replicas = o.replicas
	}
	spec.Env = editEnv(spec.Env, o.envAdd, o.envRm)
	spec.Labels = editLabels(spec.Labels, o.labelAdd, o.labelRm)
	var err error
	if spec.Ports, err = editPorts(spec.Ports, o.publishAdd, o.publishRm); err != nil {
		return spec, err
	}
	spec.UpdateConfig = o.update.apply(fl, spec.UpdateConfig)
	spec.RollbackConfig = o.rollback.apply(fl, spec.RollbackConfig)
	if o.force {
		spec.ForceUpdate++
	}
	return spec, nil
}

// editEnv sets the variables of add (KEY alone takes this shell's value),
// then removes those named by rm, as docker does; the others keep their
// order.
func editEnv(env, add, rm []string) []string {
	key := func(e string) string { k, _, _ := strings.Cut(e, "="); return k }
	out := slices.Clone(env)
	for _, e := range add {
		k, _, hasValue := strings.Cut(e, "=")
		if v, ok := os.LookupEnv(k); ok && !hasValue {
			e = k + "=" + v
		}
		if i := slices.IndexFunc(out, func(x string) bool { return key(x) == k }); i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return slices.DeleteFunc(out, func(e string) bool { return slices.Contains(rm, key(e)) })
}

// editLabels sets the labels of add, then removes those of rm.
func editLabels(labels map[string]string, add, rm []string) map[string]string {
	out := maps.Clone(labels)
	for _, l := range add {
		k, v, _ := strings.Cut(l, "=")
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	for _, k := range rm {
		delete(out, k)
	}
	return out
}

// editPorts removes the ports matching rm, then adds those of add.
func editPorts(ports []api.PortConfig, add []api.PortConfig, rm []string) ([]api.PortConfig, error) {
	out := slices.Clone(ports)
	for _, r := range rm {
		m, err := parsePortRm(r)
		if err != nil {
			return nil, err
		}
		n := len(out)
		out = slices.DeleteFunc(out, m.matches)
		if len(out) == n {
			return nil, fmt.Errorf("invalid --publish-rm %s: the service publishes no such port", r)
		}
	}
	return append(out, add...), nil
}

// portMatch is a --publish-rm value: a target port, with the published
// port and protocol when given.
type portMatch struct {
	published, target uint16
	protocol          string
}

func parsePortRm(v string) (portMatch, error) {
	spec, proto, _ := strings.Cut(v, "/")
	pub, target, both := strings.Cut(spec, ":")
	if !both {
		pub, target = "", spec
	}
	bad := fmt.Errorf("invalid --publish-rm %q: want [PUBLISHED:]TARGET[/PROTOCOL], such as 8080:80/tcp or 80", v)
	m := portMatch{protocol: strings.ToLower(proto)}
	t, err := strconv.ParseUint(target, 10, 16)
	if err != nil || t == 0 || (m.protocol != "" && m.protocol != api.ProtocolTCP && m.protocol != api.ProtocolUDP) {
		return m, bad
	}
	m.target = uint16(t)
	if pub != "" {
		p, err := strconv.ParseUint(pub, 10, 16)
		if err != nil {
			return m, bad
		}
		m.published = uint16(p)
	}
	return m, nil
}

func (m portMatch) matches(p api.PortConfig) bool {
	proto := p.Protocol
	if proto == "" {
		proto = api.ProtocolTCP
	}
	return p.Target == m.target && (m.published == 0 || p.Published == m.published) &&
		(m.protocol == "" || proto == m.protocol)
}
