package netdriver

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Driver options accepted with `docker network create -o KEY=VALUE`.
const (
	OptVNI = "xoverlay.vni"
	OptMTU = "com.docker.network.driver.mtu"
)

// Options are the validated driver options of a network.
type Options struct {
	VNI uint32
	MTU int
	Raw map[string]string
}

var optionParsers = map[string]func(*Options, string) error{
	OptVNI: func(o *Options, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 || n > 1<<24-1 {
			return fmt.Errorf("option %s=%q: want a VNI from 1 to 16777215", OptVNI, v)
		}
		o.VNI = uint32(n)
		return nil
	},
	OptMTU: func(o *Options, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 576 || n > DefaultMTU {
			return fmt.Errorf("option %s=%q: want an MTU from 576 to %d (VXLAN needs 50 bytes of the underlay's 1500)", OptMTU, v, DefaultMTU)
		}
		o.MTU = n
		return nil
	},
}

// ParseOptions validates the generic options Docker passes to CreateNetwork
// (the -o flags). Unknown keys are an error naming the valid ones.
func ParseOptions(generic map[string]any) (Options, error) {
	o := Options{Raw: map[string]string{}}
	keys := make([]string, 0, len(generic))
	for k := range generic {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fmt.Sprint(generic[k])
		parse, ok := optionParsers[k]
		if !ok {
			return o, fmt.Errorf("unknown option %q for the xoverlay driver; valid options: %s", k, validOptions())
		}
		if err := parse(&o, v); err != nil {
			return o, err
		}
		o.Raw[k] = v
	}
	return o, nil
}

func validOptions() string {
	keys := make([]string, 0, len(optionParsers))
	for k := range optionParsers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// genericOptions digs the -o map out of CreateNetwork's options.
func genericOptions(opts map[string]any) (map[string]any, error) {
	raw, ok := opts["com.docker.network.generic"]
	if !ok || raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("driver options have an unexpected shape %T", raw)
	}
	return m, nil
}
