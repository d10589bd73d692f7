package template

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	gotemplate "text/template"
)

// FuncHelp documents the template functions, one per line, for --help.
const FuncHelp = `  services                  every service, by name: .Name .ID .Mode .Image .EndpointMode .Labels
                            .Ports .VIPs (network name -> IP) .Running .Desired
  service NAME [NETWORK]    the backends of service NAME: its endpoints in service (running,
                            healthy if it has a healthcheck, node not down), by network then
                            address, each with .Name (task or container name) .Address .Node
                            .Network .Healthy .Service .TaskID .Container .ContainerID;
                            only those on NETWORK when given; empty for an unknown service
  tasks [SERVICE]           tasks (of SERVICE), by service and slot: .Name .ID .Service .Slot
                            .Node .DesiredState .State .ContainerID
  endpoints [NETWORK]       every endpoint (on NETWORK), in service or not, fields as for service
                            plus .Running .Health .Aliases
  networks, nodes           networks (.Name .ID .Subnet .Gateway), nodes (.Hostname .ID .Addr
                            .Role .Availability .Status .Labels)
  join SEP LIST             the items of LIST, as text, separated by SEP: join "," (service "web")
                            gives the addresses
  env NAME                  the environment variable NAME of xo template ("" when unset)
  printf, len, index, eq... Go's text/template built-ins
A NETWORK that does not exist is an error (the file is left as it is).`

// binding holds the view the functions read; set before each execution
// (renders run one at a time).
type binding struct{ v *View }

func (b *binding) funcs() gotemplate.FuncMap {
	return gotemplate.FuncMap{
		"services":  b.services,
		"service":   b.service,
		"tasks":     b.tasks,
		"endpoints": b.endpoints,
		"networks":  b.networksFn,
		"nodes":     b.nodes,
		"join":      join,
		"env":       os.Getenv,
	}
}

func (b *binding) services() []Service   { return b.v.Services }
func (b *binding) networksFn() []Network { return b.v.Networks }
func (b *binding) nodes() []Node         { return b.v.Nodes }

// service lists the backends of a service: its endpoints in service.
func (b *binding) service(name string, network ...string) ([]Endpoint, error) {
	net, err := b.network(network)
	if err != nil {
		return nil, err
	}
	out := []Endpoint{}
	for _, e := range b.v.Endpoints {
		if e.Service == name && e.Healthy && (net == "" || e.Network == net) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (b *binding) tasks(service ...string) ([]Task, error) {
	if len(service) > 1 {
		return nil, fmt.Errorf("tasks takes at most one service name, got %d arguments", len(service))
	}
	if len(service) == 0 {
		return b.v.Tasks, nil
	}
	out := []Task{}
	for _, t := range b.v.Tasks {
		if t.Service == service[0] {
			out = append(out, t)
		}
	}
	return out, nil
}

func (b *binding) endpoints(network ...string) ([]Endpoint, error) {
	net, err := b.network(network)
	if err != nil {
		return nil, err
	}
	out := []Endpoint{}
	for _, e := range b.v.Endpoints {
		if net == "" || e.Network == net {
			out = append(out, e)
		}
	}
	return out, nil
}

// network checks the optional network argument of service and endpoints.
func (b *binding) network(args []string) (string, error) {
	switch {
	case len(args) > 1:
		return "", fmt.Errorf("want at most one network name, got %d: %q", len(args), args)
	case len(args) == 0:
		return "", nil
	case !b.v.networks[args[0]]:
		names := make([]string, 0, len(b.v.Networks))
		for _, n := range b.v.Networks {
			if n.Name != "" { // pending: not created on an engine yet
				names = append(names, n.Name)
			}
		}
		return "", fmt.Errorf("no network %q (networks: %s)", args[0], strings.Join(names, ", "))
	}
	return args[0], nil
}

// join writes the items of a list (a slice or an array of anything) as
// text, separated by sep.
func join(sep string, list any) (string, error) {
	v := reflect.ValueOf(list)
	if k := v.Kind(); k != reflect.Slice && k != reflect.Array {
		return "", fmt.Errorf("join: want a list, got %T", list)
	}
	parts := make([]string, 0, v.Len())
	for i := range v.Len() {
		parts = append(parts, fmt.Sprint(v.Index(i).Interface()))
	}
	return strings.Join(parts, sep), nil
}
