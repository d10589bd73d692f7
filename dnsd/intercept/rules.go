//go:build linux

package intercept

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The chains' priorities: NAT chains must be above conntrack (-200); "out"
// runs before Docker's nat OUTPUT (-100), "post" before nat POSTROUTING
// (100).
const (
	outPriority  = -110
	postPriority = 90
	inPriority   = 0
)

// ctDirOriginal is conntrack's IP_CT_DIR_ORIGINAL: the direction of the
// packet that opened the connection.
const ctDirOriginal = 0

// chainSpec is one chain of the table and its rules, each tagged (in the
// rule's user data) with what it does, so that a check compares tags
// instead of decoding expressions.
type chainSpec struct {
	chain *nftables.Chain
	rules []taggedRule
}

type taggedRule struct {
	tag   string
	exprs []expr.Any
}

// spec is the whole table for x's resolver.
func (x *Interceptor) spec() (*nftables.Table, []chainSpec) {
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	chain := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio nftables.ChainPriority) *nftables.Chain {
		return &nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: nftables.ChainPriorityRef(prio)}
	}
	res := x.resolver
	dnat := func(proto byte, name string) taggedRule {
		return taggedRule{
			tag: fmt.Sprintf("xo: %s %s -> %s", name, DockerResolver, res),
			exprs: []expr.Any{
				loadIP(16), cmpEq(DockerResolver.Addr().AsSlice()),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpEq([]byte{proto}),
				loadDport(), cmpEq(port(DockerResolver.Port())),
				&expr.Immediate{Register: 1, Data: res.Addr().AsSlice()},
				&expr.Immediate{Register: 2, Data: port(res.Port())},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
			},
		}
	}
	return t, []chainSpec{
		{chain: chain("out", nftables.ChainTypeNAT, nftables.ChainHookOutput, outPriority), rules: []taggedRule{
			dnat(unix.IPPROTO_UDP, "udp"),
			dnat(unix.IPPROTO_TCP, "tcp"),
		}},
		{chain: chain("post", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, postPriority), rules: []taggedRule{{
			tag: fmt.Sprintf("xo: masquerade 127.0.0.0/8 -> %s", res.Addr()),
			exprs: []expr.Any{
				loadIP(12), mask8(), cmpEq([]byte{127, 0, 0, 0}),
				loadIP(16), cmpEq(res.Addr().AsSlice()),
				&expr.Masq{},
			},
		}}},
		{chain: chain("in", nftables.ChainTypeFilter, nftables.ChainHookInput, inPriority), rules: []taggedRule{{
			tag: "xo: drop new connections to 127.0.0.0/8 from outside lo",
			exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("lo")},
				loadIP(16), mask8(), cmpEq([]byte{127, 0, 0, 0}),
				&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1}, cmpEq([]byte{ctDirOriginal}),
				&expr.Verdict{Kind: expr.VerdictDrop},
			},
		}}},
	}
}

// replaceTable writes the table in one transaction. In a namespace
// without it (a container just started) the table is created; an existing
// one is replaced: added (so that the delete never fails), deleted, then
// added again. Deleting costs the kernel an RCU grace period (about 10 ms
// here), creating well under one.
func (x *Interceptor) replaceTable(ns netns.NsHandle) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	present, err := hasTable(c)
	if err != nil {
		return err
	}
	t, chains := x.spec()
	if present {
		c.AddTable(t)
		c.DelTable(t)
		c.AddTable(t)
	} else {
		c.CreateTable(t) // fails, rather than adding to it, if it appeared meanwhile
	}
	for _, cs := range chains {
		c.AddChain(cs.chain)
		for _, r := range cs.rules {
			c.AddRule(&nftables.Rule{Table: t, Chain: cs.chain, Exprs: r.exprs, UserData: []byte(r.tag)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: write table ip %s: %w", TableName, err)
	}
	return nil
}

// tableMatches tells whether the namespace's table has exactly the chains
// (name, type, hook, priority) and rule tags of x.spec().
func (x *Interceptor) tableMatches(ns netns.NsHandle) (bool, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return false, fmt.Errorf("nftables: %w", err)
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("nftables: list chains: %w", err)
	}
	have := map[string]*nftables.Chain{}
	for _, ch := range all {
		if ch.Table != nil && ch.Table.Name == TableName {
			have[ch.Name] = ch
		}
	}
	t, want := x.spec()
	if len(have) != len(want) {
		return false, nil
	}
	for _, cs := range want {
		got := have[cs.chain.Name]
		if got == nil || !sameHook(got, cs.chain) {
			return false, nil
		}
		rules, err := c.GetRules(t, got)
		if err != nil {
			return false, fmt.Errorf("nftables: rules of chain %s: %w", got.Name, err)
		}
		var tags, wantTags []string
		for _, r := range rules {
			tags = append(tags, string(r.UserData))
		}
		for _, r := range cs.rules {
			wantTags = append(wantTags, r.tag)
		}
		if !slices.Equal(tags, wantTags) {
			return false, nil
		}
	}
	return true, nil
}

func hasTable(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("nftables: list tables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == TableName }), nil
}

func sameHook(got, want *nftables.Chain) bool {
	return got.Type == want.Type && got.Hooknum != nil && *got.Hooknum == *want.Hooknum &&
		got.Priority != nil && *got.Priority == *want.Priority
}

// loadIP loads 4 bytes of the IPv4 header (12: source, 16: destination)
// into register 1.
func loadIP(offset uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

// loadDport loads the UDP or TCP destination port into register 1.
func loadDport() *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

func mask8() *expr.Bitwise {
	return &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}}
}

func cmpEq(b []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b} }

func port(p uint16) []byte { return binary.BigEndian.AppendUint16(nil, p) }

// ifname is a device name as meta iifname loads it: IFNAMSIZ bytes,
// NUL-padded.
func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}
