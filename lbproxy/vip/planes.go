//go:build linux

package vip

import (
	"fmt"
	"log/slog"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/lbproxy/l4/ipvs"
	"github.com/xoverlay/xoverlay/lbproxy/l4/nft"
	"github.com/xoverlay/xoverlay/lbproxy/l4/userspace"
)

// Plane names accepted by Pick besides the data planes' own.
const PlaneAuto = "auto"

// hostNS is the agent's own network namespace, where Pick probes.
const hostNS = "/proc/self/ns/net"

// Pick returns the data plane to use: want if it is not PlaneAuto (an
// error if the kernel does not offer it), else the best the kernel
// offers, probed, never assumed: IPVS where ip_vs answers, nftables
// where it accepts this package's rules, else the userspace proxy. why
// says what the probes found.
func Pick(want string) (plane, why string, err error) {
	ipvsErr := ipvs.Probe()
	nftErr := nft.Probe(hostNS)
	switch want {
	case PlaneAuto, "":
	case l4.PlaneIPVS:
		return l4.PlaneIPVS, "asked for", wrapProbe(want, ipvsErr)
	case l4.PlaneNFTables:
		return l4.PlaneNFTables, "asked for", wrapProbe(want, nftErr)
	case l4.PlaneUserspace:
		return l4.PlaneUserspace, "asked for", nil
	default:
		return "", "", fmt.Errorf("vip: data plane %q: want auto, ipvs, nftables or userspace", want)
	}
	switch {
	case ipvsErr == nil:
		return l4.PlaneIPVS, "the kernel has ip_vs", nil
	case nftErr == nil:
		return l4.PlaneNFTables, fmt.Sprintf("no IPVS (%v); nftables accepts the rules", ipvsErr), nil
	}
	return l4.PlaneUserspace, fmt.Sprintf("no IPVS (%v); nftables refused (%v)", ipvsErr, nftErr), nil
}

func wrapProbe(plane string, err error) error {
	if err != nil {
		return fmt.Errorf("vip: data plane %s is not usable on this kernel: %w (use --lb-dataplane auto)", plane, err)
	}
	return nil
}

// Opener returns the function that opens plane in a namespace.
func Opener(plane string, log *slog.Logger, m *l4.Metrics) OpenPlane {
	return func(nsPath string) (l4.DataPlane, error) {
		switch plane {
		case l4.PlaneIPVS:
			return ipvs.New(nsPath, log, m)
		case l4.PlaneNFTables:
			return nft.New(nsPath, nft.Options{Log: log, Metrics: m})
		case l4.PlaneUserspace:
			return userspace.New(nsPath, userspace.Options{Log: log, Metrics: m})
		}
		return nil, fmt.Errorf("vip: unknown data plane %q", plane)
	}
}
