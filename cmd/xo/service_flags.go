package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// The flag values of xo service create that docker parses its own way.
// As flag values, their errors read like docker's: invalid argument "1x"
// for "--limit-memory" flag: invalid size: '1x'.

// memBytes is a memory size as docker takes it: 512m, 1g, 1.5GiB, 2048.
type memBytes int64

var sizeRE = regexp.MustCompile(`^(\d+(?:\.\d+)?) ?([kmgtp]?)(ib|b)?$`)

func (m *memBytes) Set(v string) error {
	p := sizeRE.FindStringSubmatch(strings.ToLower(v))
	if p == nil || (p[2] == "" && p[3] == "ib") {
		return fmt.Errorf("invalid size: '%s'", v)
	}
	n, err := strconv.ParseFloat(p[1], 64)
	if err != nil {
		return fmt.Errorf("invalid size: '%s'", v)
	}
	if p[2] != "" { // binary units, as docker's memory flags: 1k = 1024
		n *= math.Pow(1024, float64(strings.Index("kmgtp", p[2])+1))
	}
	*m = memBytes(n)
	return nil
}

func (m *memBytes) String() string { return strconv.FormatInt(int64(*m), 10) }
func (m *memBytes) Type() string   { return "bytes" }

// nanoCPUs is a number of CPUs as docker takes it: 0.5, 2, 1.25.
type nanoCPUs int64

func (c *nanoCPUs) Set(v string) error {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	nano := r.Mul(r, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return errors.New("value is too precise")
	}
	*c = nanoCPUs(nano.Num().Int64())
	return nil
}

func (c *nanoCPUs) String() string {
	if *c == 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(*c)/1e9, 'f', -1, 64)
}
func (c *nanoCPUs) Type() string { return "decimal" }

// csvFields splits a long-form flag value (key=value,key=value) as docker
// does, with CSV quoting.
func csvFields(v string) ([]string, error) {
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return nil, fmt.Errorf("invalid value %q: %w", v, err)
	}
	return fields, nil
}

// portList is repeated --publish: [PUBLISHED:]TARGET[/PROTOCOL] or
// published=P,target=T,protocol=tcp|udp,mode=ingress|host|http.
type portList []api.PortConfig

func (l *portList) Set(v string) error {
	var p api.PortConfig
	if !strings.Contains(v, "=") {
		spec, proto, _ := strings.Cut(v, "/")
		pub, target, short := strings.Cut(spec, ":")
		if !short {
			pub, target = "", spec
		}
		t, err := strconv.ParseUint(target, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid containerPort: %s", target)
		}
		p = api.PortConfig{Target: uint16(t), Protocol: strings.ToLower(proto)}
		if pub != "" {
			n, err := strconv.ParseUint(pub, 10, 16)
			if err != nil {
				return fmt.Errorf("invalid hostPort: %s", pub)
			}
			p.Published = uint16(n)
		}
		*l = append(*l, p)
		return nil
	}
	fields, err := csvFields(v)
	if err != nil {
		return err
	}
	for _, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		if !ok || key == "" {
			return fmt.Errorf("invalid field: %s", field)
		}
		switch strings.ToLower(key) {
		case "target", "published":
			n, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return fmt.Errorf("invalid %s port %q: want a number from 0 to 65535", key, val)
			}
			if key == "target" {
				p.Target = uint16(n)
			} else {
				p.Published = uint16(n)
			}
		case "protocol":
			p.Protocol = strings.ToLower(val)
		case "mode":
			p.Mode = strings.ToLower(val)
		default:
			return fmt.Errorf("invalid field key: %s", key)
		}
	}
	if p.Target == 0 {
		return errors.New("missing mandatory field 'target'")
	}
	*l = append(*l, p)
	return nil
}

func (l *portList) String() string { return listString(*l) }
func (l *portList) Type() string   { return "port" }

// mountList is repeated --mount type=bind|volume|tmpfs,source=S,target=T[,readonly].
type mountList []api.Mount

func (l *mountList) Set(v string) error {
	fields, err := csvFields(v)
	if err != nil {
		return err
	}
	m := api.Mount{Type: api.MountVolume}
	for _, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		key = strings.ToLower(key)
		switch {
		case !ok && (key == "readonly" || key == "ro"):
			m.ReadOnly = true
		case !ok:
			return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		case key == "type":
			m.Type = strings.ToLower(val)
		case key == "source" || key == "src":
			m.Source = val
		case key == "target" || key == "dst" || key == "destination":
			m.Target = val
		case key == "readonly" || key == "ro":
			if m.ReadOnly, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if m.Target == "" {
		return errors.New("target is required")
	}
	*l = append(*l, m)
	return nil
}

func (l *mountList) String() string { return listString(*l) }
func (l *mountList) Type() string   { return "mount" }

// networkList is repeated --network NET, NET,alias=A or name=NET,alias=A
// (alias repeatable).
type networkList []api.NetworkAttachment

func (l *networkList) Set(v string) error {
	if !strings.Contains(v, "=") {
		*l = append(*l, api.NetworkAttachment{Target: v})
		return nil
	}
	fields, err := csvFields(v)
	if err != nil {
		return err
	}
	var n api.NetworkAttachment
	for i, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		switch key = strings.ToLower(strings.TrimSpace(key)); {
		case !ok && i == 0:
			n.Target = field
		case !ok || key == "":
			return fmt.Errorf("invalid field %s", field)
		case key == "name":
			n.Target = val
		case key == "alias":
			n.Aliases = append(n.Aliases, val)
		default:
			return errors.New("invalid field key " + key)
		}
	}
	if n.Target == "" {
		return errors.New("network name/id is not specified")
	}
	*l = append(*l, n)
	return nil
}

func (l *networkList) String() string { return listString(*l) }
func (l *networkList) Type() string   { return "network" }

// listString shows a repeated flag's values; "" (no default in the help)
// when there are none.
func listString[T any](l []T) string {
	if len(l) == 0 {
		return ""
	}
	return fmt.Sprint(l)
}
