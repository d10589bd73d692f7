// Package l4 is the model shared by the L4 load-balancing data planes:
// service VIPs and the routing mesh, programmed per network namespace.
//
// # Model
//
// A Desired state belongs to one network namespace. Services are VIPs
// (VIP:port/proto to a list of healthy tasks, or, address-only like a
// Swarm VIP, every TCP and UDP port of VIP to the same port of a task:
// the nftables plane serves every port, the userspace and IPVS planes
// only the service's known ports, see Desired.PerPort); Published entries are
// routing-mesh ports (port/proto on every local address of the namespace
// to a list of tasks, anywhere in the cluster); MeshSource gives the
// source address mesh traffic takes towards a backend network. A
// DataPlane (ipvs, nft or userspace; chosen per node by probing, best
// first) applies it incrementally and reconciles it against the kernel.
//
// # Service VIPs: balanced in the client's namespace
//
// As in Swarm, a VIP is balanced inside the namespace of each container
// that may call it (the driver's Join gives its path), so nothing between
// the client and the task rewrites the client's address:
//
//	container C (10.0.1.5) connect(VIP 10.0.1.250:80)
//	  nat OUTPUT in C's namespace: ip daddr . l4proto . dport is a VIP
//	    -> DNAT to one task, e.g. 10.0.1.7:80 (on host B)
//	  C's eth0 -> host A's bridge -> VXLAN -> host B's bridge -> task
//	task sees 10.0.1.5:ephemeral -> 10.0.1.7:80, replies to 10.0.1.5
//	  host B's bridge -> VXLAN -> host A's bridge -> C; conntrack in C
//	  un-DNATs the reply to come from 10.0.1.250:80
//
// The reply takes the overlay straight back to C, whose conntrack entry
// does the reverse translation; no node in the middle keeps state. A
// removed task gets no new connection from the next packet on (the rule
// is swapped in one transaction); its established TCP connections finish,
// and its UDP conntrack entries are deleted so that a chatty UDP client
// moves to another task at its next datagram.
//
// # Routing mesh: published ports on every node
//
// A published port is accepted on any local address of the node's
// namespace (the host's, or an ingress namespace's), also on nodes that
// run no task of the service:
//
//	client X (198.18.0.50) -> host A 198.18.0.11:8080
//	  nat PREROUTING on A: fib daddr type local, dport 8080 published
//	    -> mark the packet, DNAT to a task: 10.0.1.7:80 on host B
//	  routing on A: 10.0.1.0/24 is the overlay bridge -> VXLAN -> host B
//	  nat POSTROUTING on A: marked -> SNAT to A's own address on the
//	    overlay (MeshSource), e.g. 10.0.1.250 + A's index
//	task on B sees A:port -> 10.0.1.7:80 and replies to A's address
//	  -> VXLAN -> host A; conntrack un-SNATs and un-DNATs the reply to
//	  198.18.0.11:8080 -> X
//
// Why source NAT: without it the task would answer X directly through its
// own host B (its default route), from 10.0.1.7, a flow X never opened; A
// would never see the reply. Why an address unique to the node: each
// host's bridge holds the network's gateway address, the same on every
// host, so masquerading to the gateway would make B deliver the reply to
// itself. MeshSource maps the backend network's prefix to an address of
// A's own on that network (allocated to the node like an endpoint's);
// without an entry the kernel masquerades to the outgoing interface's
// address, which is right only when that address is unique (as on a
// routed test topology).
//
// Processes on host A reach published ports on A's own addresses too
// (nat OUTPUT), except on 127.0.0.0/8: a loopback source cannot leave the
// host. Forwarded mesh traffic must also pass the host's filter rules:
// Docker sets FORWARD's policy to DROP, and an accept in another table
// does not override a drop, so whoever wires the mesh on a Docker host
// adds an accept for it in iptables (e.g. DOCKER-USER, matching the mesh
// mark). This package does not touch iptables.
package l4
