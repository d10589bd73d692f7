// Package nft is the nftables data plane (github.com/google/nftables) for
// kernels without IPVS. It owns one table, "xo-lb" (family ip), in each
// namespace it serves:
//
//	map vips      { ipv4_addr . inet_proto . inet_service : verdict }
//	map vipaddrs  { ipv4_addr : verdict }                  (address-only VIPs)
//	map published { inet_proto . inet_service : verdict }
//	chain out  (nat output, dstnat)     ip daddr . meta l4proto . th dport vmap @vips
//	                                    ip daddr vmap @vipaddrs
//	                                    fib daddr type local ip daddr != 127/8 meta l4proto . th dport vmap @published
//	chain pre  (nat prerouting, dstnat) fib daddr type local meta l4proto . th dport vmap @published
//	chain post (nat postrouting, srcnat) meta mark & M == M ip daddr P snat ip to S   (per MeshSource)
//	                                     meta mark & M == M masquerade
//	chain v-VIP-PROTO-PORT / p-PROTO-PORT, one per frontend, one rule:
//	    meta l4proto P [meta mark set mark | M] dnat ip to numgen random mod N map { 0 : a . p, ... }
//	    (or, with no backends: reject with tcp reset / icmp port-unreachable)
//	chain a-VIP, one per address-only VIP, one rule (the port is kept):
//	    dnat ip to numgen random mod N map { 0 : a, ... }
//	    (or, with no backends: reject with icmp port-unreachable, which a
//	    TCP connect takes as a refusal too)
//
// Why this shape. A packet costs two hash lookups whatever the number of
// services. Each frontend's backends live in its own chain's rule, so a
// change touches only the frontends that changed: adding a service is a
// chain, a rule and a map element; changing its backends is a flush and
// an add of its one rule, committed together (nftables transactions are
// atomic, so no packet sees the chain empty and a removed backend gets no
// new connection from the next packet on). numgen random spreads new
// connections evenly; "inc" would not be fair here, because every client
// namespace has its own counter, starting at the first backend after each
// change. NAT rules run for the first packet of a connection only;
// conntrack carries the rest, so established connections keep their
// backend.
//
// Each frontend rule's comment is a fingerprint of its backends and each
// base chain's rules carry a tag, so Reconcile recognises a rule that was
// deleted, edited or replaced without decoding expressions, and rewrites
// it. The first Apply of a Plane deletes and rebuilds the whole table in
// one transaction, so a restarted agent takes over the rules of its
// predecessor without a gap.
package nft
