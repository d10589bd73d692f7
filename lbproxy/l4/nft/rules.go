//go:build linux

package nft

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
)

// Registers as the kernel numbers them: 1 is the first 16-byte register
// (it overlaps the 32-bit registers 8 to 11); 9 and 10 are the 32-bit
// registers after the first word, where concatenated keys continue.
const (
	reg1      = 1
	reg32Word = 9
	reg32Next = 10
	rtnLocal  = 2 // RTN_LOCAL, fib's "type local"

	icmpPortUnreach = 3
)

var (
	vipKeyType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	pubKeyType = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	backendTyp = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
)

// setIDs numbers the sets a batch creates. The library's own counter
// (used when ID is 0) is a plain global, which planes of several
// namespaces would race on.
var setIDs atomic.Uint32

// objects builds this package's table in one batch of a connection.
type objects struct {
	conn  *nftables.Conn
	table *nftables.Table
	mark  uint32
}

func (o *objects) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: o.table}
}

func (o *objects) vips() *nftables.Set {
	return &nftables.Set{Table: o.table, Name: mapVIPs, IsMap: true, Concatenation: true,
		KeyType: vipKeyType, DataType: nftables.TypeVerdict}
}

func (o *objects) addrs() *nftables.Set {
	return &nftables.Set{Table: o.table, Name: mapAddrs, IsMap: true,
		KeyType: nftables.TypeIPAddr, DataType: nftables.TypeVerdict}
}

// maps lists the frontend maps.
func (o *objects) maps() []*nftables.Set {
	return []*nftables.Set{o.vips(), o.addrs(), o.published()}
}

func (o *objects) published() *nftables.Set {
	return &nftables.Set{Table: o.table, Name: mapPublished, IsMap: true, Concatenation: true,
		KeyType: pubKeyType, DataType: nftables.TypeVerdict}
}

// addSkeleton queues the table, its maps, base chains and base rules.
func (o *objects) addSkeleton(snat []l4.SNAT) error {
	o.conn.AddTable(o.table)
	for _, m := range o.maps() {
		m.ID = setIDs.Add(1)
		if err := o.conn.AddSet(m, nil); err != nil {
			return err
		}
	}
	nat := nftables.ChainTypeNAT
	accept := nftables.ChainPolicyAccept
	for _, c := range []*nftables.Chain{
		{Name: chainOut, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest},
		{Name: chainPre, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		{Name: chainPost, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource},
	} {
		c.Table, c.Type, c.Policy = o.table, nat, &accept
		o.conn.AddChain(c)
	}
	for _, name := range []string{chainOut, chainPre, chainPost} {
		o.addBaseRules(name, snat)
	}
	return nil
}

// baseRules returns the rules of a base chain and the tag each carries.
func (o *objects) baseRules(chain string, snat []l4.SNAT) (rules [][]expr.Any, tag string) {
	switch chain {
	case chainOut:
		return [][]expr.Any{vipLookup(), addrLookup(), localOnly(true, pubLookup())}, tagPrefix + "out"
	case chainPre:
		return [][]expr.Any{localOnly(false, pubLookup())}, tagPrefix + "pre"
	case chainPost:
		for _, s := range snat {
			rules = append(rules, concat(markIsSet(o.mark), daddrIn(s.Prefix), snatTo(s.Source)))
		}
		return append(rules, concat(markIsSet(o.mark), []expr.Any{&expr.Masq{}})), snatFingerprint(snat, o.mark)
	}
	return nil, ""
}

func (o *objects) addBaseRules(chain string, snat []l4.SNAT) {
	rules, tag := o.baseRules(chain, snat)
	for _, r := range rules {
		o.conn.AddRule(&nftables.Rule{Table: o.table, Chain: o.chain(chain), Exprs: r, UserData: comment(tag)})
	}
}

// addFrontend queues a frontend: its chain, its rule, its map element.
func (o *objects) addFrontend(k l4.Key, backends []netip.AddrPort) error {
	o.conn.AddChain(o.chain(chainName(k)))
	if err := o.addFrontendRule(k, backends); err != nil {
		return err
	}
	return o.conn.SetAddElements(o.frontendMap(k), []nftables.SetElement{o.element(k)})
}

// updateFrontend queues the replacement of a frontend's rule. Flush and
// add commit together, so no packet sees the chain empty.
func (o *objects) updateFrontend(k l4.Key, backends []netip.AddrPort) error {
	o.conn.FlushChain(o.chain(chainName(k)))
	return o.addFrontendRule(k, backends)
}

// removeFrontend queues the removal of a frontend: element, then chain.
func (o *objects) removeFrontend(k l4.Key) error {
	if err := o.conn.SetDeleteElements(o.frontendMap(k), []nftables.SetElement{{Key: frontendKey(k)}}); err != nil {
		return err
	}
	o.conn.FlushChain(o.chain(chainName(k)))
	o.conn.DelChain(o.chain(chainName(k)))
	return nil
}

func (o *objects) frontendMap(k l4.Key) *nftables.Set {
	switch {
	case k.Published():
		return o.published()
	case k.AllPorts():
		return o.addrs()
	}
	return o.vips()
}

func (o *objects) element(k l4.Key) nftables.SetElement {
	return nftables.SetElement{Key: frontendKey(k),
		VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chainName(k)}}
}

// addFrontendRule queues the one rule of a frontend's chain:
//
//	meta l4proto P [meta mark set mark | M] dnat ip to numgen random mod N map { i : addr . port }
//
// or, with no backends, a reject (TCP reset, ICMP port unreachable). An
// address-only VIP's rule matches every protocol and keeps the port:
//
//	dnat ip to numgen random mod N map { i : addr }
//
// and rejects with ICMP port unreachable (which a TCP connect also takes
// as a refusal).
func (o *objects) addFrontendRule(k l4.Key, backends []netip.AddrPort) error {
	if k.AllPorts() {
		return o.addAddrRule(k, backends)
	}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(k.Proto)}},
	}
	switch {
	case len(backends) == 0 && k.Proto == l4.TCP:
		exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case len(backends) == 0:
		exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreach})
	default:
		set := &nftables.Set{Table: o.table, ID: setIDs.Add(1), Name: "__map%d", Anonymous: true,
			Constant: true, IsMap: true, KeyType: nftables.TypeInteger, DataType: backendTyp,
			KeyByteOrder: binaryutil.NativeEndian}
		elems := make([]nftables.SetElement, len(backends))
		for i, b := range backends {
			elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: backendValue(b)}
		}
		if err := o.conn.AddSet(set, elems); err != nil {
			return err
		}
		if k.Published() {
			exprs = append(exprs, setMark(o.mark)...)
		}
		exprs = append(exprs,
			&expr.Numgen{Register: reg1, Modulus: uint32(len(backends)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetID: set.ID, SetName: set.Name},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg32Word},
		)
	}
	o.conn.AddRule(&nftables.Rule{Table: o.table, Chain: o.chain(chainName(k)), Exprs: exprs,
		UserData: comment(fingerprint(k, backends, o.mark))})
	return nil
}

// addAddrRule queues the rule of an address-only VIP (see addFrontendRule).
func (o *objects) addAddrRule(k l4.Key, backends []netip.AddrPort) error {
	var exprs []expr.Any
	if len(backends) == 0 {
		exprs = []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreach}}
	} else {
		set := &nftables.Set{Table: o.table, ID: setIDs.Add(1), Name: "__map%d", Anonymous: true,
			Constant: true, IsMap: true, KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr,
			KeyByteOrder: binaryutil.NativeEndian}
		elems := make([]nftables.SetElement, len(backends))
		for i, b := range backends {
			a := b.Addr().As4()
			elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: a[:]}
		}
		if err := o.conn.AddSet(set, elems); err != nil {
			return err
		}
		exprs = []expr.Any{
			&expr.Numgen{Register: reg1, Modulus: uint32(len(backends)), Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetID: set.ID, SetName: set.Name},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1},
		}
	}
	o.conn.AddRule(&nftables.Rule{Table: o.table, Chain: o.chain(chainName(k)), Exprs: exprs,
		UserData: comment(fingerprint(k, backends, o.mark))})
	return nil
}

// addrLookup: ip daddr vmap @vipaddrs (after @vips: a VIP's own port
// entries win over its address-only entry)
func addrLookup() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: mapAddrs},
	}
}

// vipLookup: ip daddr . meta l4proto . th dport vmap @vips
func vipLookup() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32Word},
		&expr.Payload{DestRegister: reg32Next, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: mapVIPs},
	}
}

// pubLookup: meta l4proto . th dport vmap @published
func pubLookup() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Payload{DestRegister: reg32Word, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: mapPublished},
	}
}

// localOnly prefixes rest with "fib daddr type local", and for locally
// generated traffic "ip daddr != 127.0.0.0/8" (a loopback source cannot
// leave the host, so published ports are not served on 127.0.0.1).
func localOnly(notLoopback bool, rest []expr.Any) []expr.Any {
	e := []expr.Any{
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(rtnLocal)},
	}
	if notLoopback {
		e = append(e,
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{127}},
		)
	}
	return append(e, rest...)
}

// setMark: meta mark set mark | M
func setMark(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
}

// markIsSet: meta mark & M == M
func markIsSet(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(mark)},
	}
}

// daddrIn: ip daddr P
func daddrIn(p netip.Prefix) []expr.Any {
	p = p.Masked()
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	if p.Bits() == 0 {
		mask = make([]byte, 4)
	}
	a := p.Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: a[:]},
	}
}

// snatTo: snat ip to S
func snatTo(src netip.Addr) []expr.Any {
	a := src.As4()
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: a[:]},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1},
	}
}

func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// comment is a rule's user data as nft writes comments, so `nft list`
// shows the tag.
func comment(s string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, s)
}

func ruleTag(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// frontendKey is a frontend's key in its map, each field padded to 4
// bytes as concatenations are.
func frontendKey(k l4.Key) []byte {
	b := make([]byte, 0, 12)
	if !k.Published() {
		a := k.VIP.As4()
		b = append(b, a[:]...)
	}
	if k.AllPorts() {
		return b
	}
	b = append(b, byte(k.Proto), 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, k.Port)
	return append(b, 0, 0)
}

// backendValue is addr . port, padded.
func backendValue(b netip.AddrPort) []byte {
	a := b.Addr().As4()
	v := append(a[:], 0, 0, 0, 0)
	binary.BigEndian.PutUint16(v[4:], b.Port())
	return v
}
