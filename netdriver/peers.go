package netdriver

import (
	"errors"
	"fmt"
	"net"
	"sort"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// ReconcilePeers makes the VXLAN devices of the networks this node's engine
// holds know exactly the endpoints on other nodes: for each, an FDB entry
// (its MAC behind its node's underlay address) and a neighbour entry (its
// IP at its MAC), all written from the state. Entries no endpoint accounts
// for are removed. Nothing is learned and nothing is flooded: a MAC without
// an entry is unreachable. Devices that do not exist yet are skipped;
// Reconcile creates them and the next call fills them.
func (d *Driver) ReconcilePeers() error {
	if d.peers == nil {
		return nil
	}
	d.kmu.Lock()
	defer d.kmu.Unlock()
	want, errs := d.desiredPeers()
	devices := make([]string, 0, len(want))
	for vx := range want {
		devices = append(devices, vx)
	}
	sort.Strings(devices)
	for _, vx := range devices {
		if err := d.syncPeers(vx, want[vx]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// desiredPeers lists, per VXLAN device of this node, the remote endpoints
// it should reach. Endpoints that cannot be programmed (their node has no
// underlay address, or a malformed record) are reported, not fatal.
func (d *Driver) desiredPeers() (map[string][]Remote, []error) {
	want := map[string][]Remote{}
	var errs []error
	d.cluster.View(func(tx state.ReadTx) {
		for _, n := range tx.Networks() {
			if _, ok := n.Engines[d.cfg.Node]; !ok || n.VNI == 0 {
				continue
			}
			vx := VXLANName(n.VNI)
			want[vx] = nil
			for _, ep := range tx.Endpoints(n.ID) {
				if ep.Node == d.cfg.Node {
					continue
				}
				r, err := remoteOf(tx, ep)
				if err != nil {
					errs = append(errs, fmt.Errorf("xoverlay: endpoint %s of network %s: %w", ep.ID, displayName(*n), err))
					continue
				}
				want[vx] = append(want[vx], r)
			}
		}
	})
	return want, errs
}

func remoteOf(tx state.ReadTx, ep *state.Endpoint) (Remote, error) {
	node := tx.Node(ep.Node)
	if node == nil || node.Addr == "" {
		return Remote{}, fmt.Errorf("host %s has no underlay address (--advertise-addr); its containers are unreachable from here", ep.Node)
	}
	vtep := net.ParseIP(node.Addr)
	if vtep == nil {
		return Remote{}, fmt.Errorf("host %s has a malformed underlay address %q", node.Hostname, node.Addr)
	}
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil || len(mac) != 6 {
		return Remote{}, fmt.Errorf("malformed MAC %q", ep.MAC)
	}
	ip := net.ParseIP(ep.IP)
	if ip == nil {
		return Remote{}, fmt.Errorf("malformed address %q", ep.IP)
	}
	return Remote{MAC: mac, IP: ip, VTEP: vtep}, nil
}

// syncPeers makes one device's entries match want: additions first (a MAC
// that moved to another host is repointed in place), then removals,
// neighbour entries before FDB entries.
func (d *Driver) syncPeers(vx string, want []Remote) error {
	have, err := d.peers.ListRemotes(vx)
	if errors.Is(err, ErrNoDevice) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("xoverlay: list remotes of %s: %w", vx, err)
	}
	haveFDB, haveNeigh := peerEntries(have)
	wantFDB, wantNeigh := peerEntries(want)
	var errs []error
	for _, r := range want {
		_, fdb := haveFDB[fdbKey(r)]
		_, neigh := haveNeigh[neighKey(r)]
		if fdb && neigh {
			continue
		}
		d.log.Debug("adding remote endpoint", "dev", vx, "mac", r.MAC.String(), "ip", r.IP.String(), "vtep", r.VTEP.String())
		if err := d.peers.AddRemote(vx, r.MAC, r.IP, r.VTEP); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range sortedKeys(haveNeigh) {
		if _, ok := wantNeigh[k]; !ok {
			r := haveNeigh[k]
			d.log.Debug("removing neighbour entry", "dev", vx, "ip", r.IP.String(), "mac", r.MAC.String())
			if err := d.peers.DelRemote(vx, r.MAC, r.IP, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, k := range sortedKeys(haveFDB) {
		if _, ok := wantFDB[k]; !ok {
			r := haveFDB[k]
			d.log.Debug("removing fdb entry", "dev", vx, "mac", r.MAC.String(), "vtep", r.VTEP.String())
			if err := d.peers.DelRemote(vx, r.MAC, nil, r.VTEP); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// peerEntries splits remotes into their FDB (MAC -> VTEP) and neighbour
// (IP -> MAC) entries, keyed by their normalised text.
func peerEntries(rs []Remote) (fdb, neigh map[string]Remote) {
	fdb, neigh = map[string]Remote{}, map[string]Remote{}
	for _, r := range rs {
		if r.VTEP != nil {
			fdb[fdbKey(r)] = Remote{MAC: r.MAC, VTEP: r.VTEP}
		}
		if r.IP != nil {
			neigh[neighKey(r)] = Remote{MAC: r.MAC, IP: r.IP}
		}
	}
	return fdb, neigh
}

func fdbKey(r Remote) string   { return r.MAC.String() + " " + r.VTEP.String() }
func neighKey(r Remote) string { return r.IP.String() + " " + r.MAC.String() }

func sortedKeys(m map[string]Remote) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
