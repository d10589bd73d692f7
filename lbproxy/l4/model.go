package l4

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Proto is a transport protocol, by its IP protocol number.
type Proto uint8

// The protocols a frontend can balance.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// ParseProto reads "tcp" or "udp" (any case; empty means tcp, as in
// `--publish 8080:80`).
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "", "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	}
	return 0, fmt.Errorf("l4: protocol %q is not supported: use tcp or udp", s)
}

// Service is a virtual service: connections to VIP:Port/Proto go to one
// of Backends (the healthy tasks). With no backends, connections are
// refused at once.
//
// A Service with neither Port nor Proto is address-only, like a Swarm
// VIP: a connection to any TCP or UDP port of VIP goes to the same port
// of one backend, so its Backends carry port 0. Planes that cannot serve
// every port (userspace, ipvs) serve KnownPorts instead (see PerPort);
// the nftables plane ignores it.
type Service struct {
	VIP        netip.Addr
	Port       uint16
	Proto      Proto
	Backends   []netip.AddrPort
	KnownPorts []PortProto
}

// PortProto is one transport port.
type PortProto struct {
	Port  uint16
	Proto Proto
}

// AllPorts reports whether s is address-only.
func (s Service) AllPorts() bool { return s.Port == 0 && s.Proto == 0 }

// Published is a routing-mesh port: connections to Port/Proto on any
// local address of the namespace (except loopback) go to one of Backends,
// which may live on other hosts.
type Published struct {
	Port     uint16
	Proto    Proto
	Backends []netip.AddrPort
}

// SNAT gives the source address that routing-mesh traffic takes towards
// backends inside Prefix. Without a matching entry the kernel picks the
// outgoing interface's address (masquerade). See the package doc for why
// an overlay needs an address unique to the node here.
type SNAT struct {
	Prefix netip.Prefix
	Source netip.Addr
}

// Desired is the whole load-balancing state of one network namespace.
type Desired struct {
	Services  []Service
	Published []Published
	// MeshSource applies to published ports only.
	MeshSource []SNAT
}

// Key names a frontend. A published port has no VIP (the zero Addr); an
// address-only VIP has neither Proto nor Port.
type Key struct {
	VIP   netip.Addr
	Proto Proto
	Port  uint16
}

// Published reports whether k is a routing-mesh port.
func (k Key) Published() bool { return !k.VIP.IsValid() }

// AllPorts reports whether k is an address-only VIP (every TCP and UDP
// port).
func (k Key) AllPorts() bool { return k.VIP.IsValid() && k.Port == 0 && k.Proto == 0 }

// CarriesUDP reports whether UDP flows go through k.
func (k Key) CarriesUDP() bool { return k.Proto == UDP || k.AllPorts() }

func (k Key) String() string {
	switch {
	case k.Published():
		return fmt.Sprintf("*:%d/%s", k.Port, k.Proto)
	case k.AllPorts():
		return k.VIP.String() + ":*"
	}
	return fmt.Sprintf("%s:%d/%s", k.VIP, k.Port, k.Proto)
}

// Compare orders keys: published ports first, then by VIP, protocol, port.
func (k Key) Compare(o Key) int {
	return cmp.Or(k.VIP.Compare(o.VIP), cmp.Compare(k.Proto, o.Proto), cmp.Compare(k.Port, o.Port))
}

// Frontends is the desired state as a map from frontend to its backends,
// each list sorted (so reordering a list is no change).
type Frontends map[Key][]netip.AddrPort

// Frontends checks d and returns its frontends. The error names every
// problem found, each with what to change.
func (d Desired) Frontends() (Frontends, error) {
	out := make(Frontends, len(d.Services)+len(d.Published))
	var errs []error
	add := func(k Key, backends []netip.AddrPort) {
		if _, dup := out[k]; dup {
			errs = append(errs, fmt.Errorf("frontend %s is listed twice: merge its backends into one entry", k))
			return
		}
		bs, err := canonical(backends, k.AllPorts())
		if err != nil {
			errs = append(errs, fmt.Errorf("frontend %s: %w", k, err))
			return
		}
		out[k] = bs
	}
	for _, s := range d.Services {
		k := Key{VIP: s.VIP, Proto: s.Proto, Port: s.Port}
		if !s.AllPorts() {
			if err := checkKey(k); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if !s.VIP.Is4() || s.VIP.IsUnspecified() || s.VIP.IsLoopback() || s.VIP.IsMulticast() {
			errs = append(errs, fmt.Errorf("service %s: VIP must be a unicast IPv4 address outside 127.0.0.0/8", k))
			continue
		}
		add(k, s.Backends)
	}
	for _, p := range d.Published {
		k := Key{Proto: p.Proto, Port: p.Port}
		if err := checkKey(k); err != nil {
			errs = append(errs, err)
			continue
		}
		add(k, p.Backends)
	}
	for _, s := range d.MeshSource {
		if !s.Prefix.IsValid() || !s.Prefix.Addr().Is4() || !s.Source.Is4() {
			errs = append(errs, fmt.Errorf("mesh source %s -> %s: both must be IPv4 (a prefix and an address)", s.Prefix, s.Source))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("l4: invalid desired state: %w", errors.Join(errs...))
	}
	return out, nil
}

func checkKey(k Key) error {
	if k.Proto != TCP && k.Proto != UDP {
		return fmt.Errorf("frontend %s: protocol must be tcp or udp (or, for a VIP of every port, neither port nor protocol)", k)
	}
	if k.Port == 0 {
		return fmt.Errorf("frontend %s: port 0 is not a port: give the published or service port", k)
	}
	return nil
}

// PerPort returns d with every address-only service replaced by one
// service per known port (its KnownPorts, each backend at that port), for
// the planes that cannot serve every port. A known port that d also lists
// as a service of its own is left to that entry.
func (d Desired) PerPort() Desired {
	out := d
	out.Services = nil
	listed := map[Key]bool{}
	for _, s := range d.Services {
		if !s.AllPorts() {
			listed[Key{VIP: s.VIP, Proto: s.Proto, Port: s.Port}] = true
		}
	}
	for _, s := range d.Services {
		if !s.AllPorts() {
			out.Services = append(out.Services, s)
			continue
		}
		for _, pp := range s.KnownPorts {
			k := Key{VIP: s.VIP, Proto: pp.Proto, Port: pp.Port}
			if listed[k] {
				continue
			}
			listed[k] = true
			bs := make([]netip.AddrPort, len(s.Backends))
			for i, b := range s.Backends {
				bs[i] = netip.AddrPortFrom(b.Addr(), pp.Port)
			}
			out.Services = append(out.Services, Service{VIP: s.VIP, Port: pp.Port, Proto: pp.Proto, Backends: bs})
		}
	}
	return out
}

// canonical returns a sorted copy of backends, refusing duplicates (they
// would silently double a backend's share) and addresses that are not
// IPv4 with a port (port 0 for an address-only frontend).
func canonical(backends []netip.AddrPort, addrOnly bool) ([]netip.AddrPort, error) {
	bs := slices.Clone(backends)
	if bs == nil {
		bs = []netip.AddrPort{}
	}
	slices.SortFunc(bs, netip.AddrPort.Compare)
	for i, b := range bs {
		switch {
		case addrOnly && (!b.Addr().Is4() || b.Port() != 0):
			return nil, fmt.Errorf("backend %s: must be an IPv4 address with port 0 (the frontend serves every port)", b)
		case !addrOnly && (!b.Addr().Is4() || b.Port() == 0):
			return nil, fmt.Errorf("backend %s: must be an IPv4 address and a non-zero port", b)
		}
		if i > 0 && bs[i-1] == b {
			return nil, fmt.Errorf("backend %s is listed twice: list each task once", b)
		}
	}
	return bs, nil
}

// SortedKeys returns f's keys in Compare order.
func (f Frontends) SortedKeys() []Key {
	keys := make([]Key, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, Key.Compare)
	return keys
}

// Counts returns the numbers of VIP services and published ports, and of
// their backends.
func (f Frontends) Counts() (vips, published, vipBackends, pubBackends int) {
	for k, bs := range f {
		if k.Published() {
			published++
			pubBackends += len(bs)
		} else {
			vips++
			vipBackends += len(bs)
		}
	}
	return vips, published, vipBackends, pubBackends
}
