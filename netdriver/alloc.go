package netdriver

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// allocate hands out a free address of network id from this node's blocks,
// claiming a new block through the cluster when the owned ones are full.
func (d *Driver) allocate(id string) (netip.Addr, error) {
	for range 64 {
		if ip, ok := d.pickLocal(id); ok {
			return ip, nil
		}
		if _, err := d.propose(state.ClaimBlock{NetworkID: id, Node: d.cfg.Node}); err != nil {
			if errors.Is(err, state.ErrConflict) {
				return netip.Addr{}, d.exhausted(id)
			}
			return netip.Addr{}, plain(err)
		}
	}
	return netip.Addr{}, d.exhausted(id)
}

func (d *Driver) exhausted(id string) error {
	var msg string
	d.cluster.View(func(tx state.ReadTx) {
		if n := tx.Network(id); n != nil {
			name := n.Name
			if name == "" {
				name = n.ID
			}
			msg = fmt.Sprintf("xoverlay: network %s has no free address left in %s; remove containers or create the network with a larger --subnet/--ip-range",
				name, n.AllocRange())
		}
	})
	if msg == "" {
		return fmt.Errorf("xoverlay: address pool %s not found", id)
	}
	return errors.New(msg)
}

// pickLocal finds a free address in this node's blocks, starting after the
// last one handed out so a released address is not reused at once.
func (d *Driver) pickLocal(id string) (netip.Addr, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var cands []netip.Addr
	d.cluster.View(func(tx state.ReadTx) {
		n := tx.Network(id)
		if n == nil {
			return
		}
		cands = d.freeInBlocks(tx, n)
	})
	if len(cands) == 0 {
		return netip.Addr{}, false
	}
	ip := cands[0]
	last := d.cursor[id]
	for _, c := range cands {
		if last.IsValid() && c.Compare(last) > 0 {
			ip = c
			break
		}
	}
	if d.pending[id] == nil {
		d.pending[id] = map[netip.Addr]bool{}
	}
	d.pending[id][ip] = true
	d.cursor[id] = ip
	return ip, true
}

// freeInBlocks lists, in order, the free addresses of this node's blocks.
// Called with d.mu held.
func (d *Driver) freeInBlocks(tx state.ReadTx, n *state.Network) []netip.Addr {
	subnet := netip.MustParsePrefix(n.Subnet)
	rng := n.AllocRange()
	var blocks []netip.Prefix
	for b, node := range n.Blocks {
		if node == d.cfg.Node {
			blocks = append(blocks, netip.MustParsePrefix(b))
		}
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].Addr().Less(blocks[j].Addr()) })
	aux := map[string]bool{}
	for _, ip := range n.Aux {
		aux[ip] = true
	}
	var out []netip.Addr
	for _, b := range blocks {
		for ip := b.Addr(); b.Contains(ip); ip = ip.Next() {
			s := ip.String()
			if !rng.Contains(ip) || !state.Usable(subnet, ip) || s == n.Gateway || aux[s] {
				continue
			}
			if _, held := n.Reserved[s]; held || tx.IPUser(n.ID, s) != "" || d.pending[n.ID][ip] {
				continue
			}
			out = append(out, ip)
		}
	}
	return out
}

func (d *Driver) unpend(id string, ip netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.pending[id], ip)
}

func (d *Driver) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.pending, id)
	delete(d.cursor, id)
}
