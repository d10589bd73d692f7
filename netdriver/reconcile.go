package netdriver

import (
	"errors"
	"fmt"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// Reconcile makes the kernel match the state for this node: every network
// this engine holds has its bridge and VXLAN device, and xoverlay-named
// devices that no network or endpoint of this node owns are removed.
// It runs at start-up and periodically; it is safe beside plugin calls
// because state is always written before the kernel is touched.
func (d *Driver) Reconcile() error {
	d.kmu.Lock()
	defer d.kmu.Unlock()
	var specs []BridgeSpec
	veths := map[string]bool{}
	d.cluster.View(func(tx state.ReadTx) {
		for _, n := range tx.Networks() {
			if _, ok := n.Engines[d.cfg.Node]; ok && n.VNI != 0 {
				specs = append(specs, d.bridgeSpec(*n))
			}
		}
		for _, ep := range tx.Endpoints("") {
			if ep.Node == d.cfg.Node {
				veths[ep.HostIface] = true
			}
		}
	})
	var errs []error
	bridges, vxlans := map[string]bool{}, map[string]bool{}
	for _, s := range specs {
		bridges[s.Bridge], vxlans[s.VXLAN] = true, true
		if err := d.kernel.EnsureBridge(s); err != nil {
			errs = append(errs, fmt.Errorf("ensure %s: %w", s.Bridge, err))
		}
	}
	owned, err := d.kernel.ListOwned()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list devices: %w", err))...)
	}
	for _, b := range owned.Bridges {
		if !bridges[b] {
			d.log.Info("removing orphan bridge", "dev", b)
			errs = append(errs, d.kernel.DeleteBridge(BridgeSpec{Bridge: b}))
		}
	}
	for _, v := range owned.VXLANs {
		if !vxlans[v] {
			d.log.Info("removing orphan vxlan", "dev", v)
			errs = append(errs, d.kernel.DeleteBridge(BridgeSpec{VXLAN: v}))
		}
	}
	for _, v := range owned.Veths {
		if !veths[v] {
			d.log.Info("removing orphan veth", "dev", v)
			errs = append(errs, d.kernel.DeleteVeth(v))
		}
	}
	return errors.Join(errs...)
}
