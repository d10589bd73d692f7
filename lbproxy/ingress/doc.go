// Package ingress serves a node's published ports: the routing mesh
// (--publish P:T, mode ingress), host-mode ports (mode=host) and the
// HTTP proxy (mode=http, or the xo.http.* labels).
//
// # The ingress container
//
// Mesh traffic leaves a node towards tasks on other hosts, and the
// replies must come back to that node. Every host's bridge of a network
// holds the same gateway address, so traffic sent from the host's own
// namespace could not be answered. Each agent therefore runs one small
// container on its engine, xo-ingress (the xo binary itself, imported as
// an image at first use, running the hidden `xo pause`), connected to
// every network that carries a published service. Its addresses come
// from the xoverlay IPAM like any container's, so they are unique to the
// node and the other hosts know how to reach them. It exists only while
// some service publishes a port, so it never holds a network that is
// being removed; the agent finds it again after a restart by its label
// (xo.ingress).
//
// # Packet paths
//
// Routing mesh, a client X connecting to port P of host A, the task on
// host B:
//
//	X -> A:P          host A, nftables table xo-ingress (nat prerouting, or
//	                  output for A's own processes): DNAT to the ingress
//	                  container's address on the service's network, I:P;
//	                  source NAT to the bridge's address
//	I:P               ingress namespace, table xo-mesh: DNAT to a task in
//	                  service, T:port, anywhere; source NAT to I
//	T on host B       answers I, over the overlay back to host A; each
//	                  conntrack entry undoes its translation
//
// Mode host: the host's table sends P straight to a local task in
// service (only nodes running one accept P). Mode http: the node's
// HTTP proxy (lbproxy/l7) listens on P in the host's namespace, so it
// sees the client's own address (X-Forwarded-For, ip_hash), and dials
// the tasks from the ingress namespace.
//
// Docker's FORWARD chain may drop forwarded traffic (policy DROP when
// dockerd enabled IP forwarding itself). While anything is published
// the controller keeps two rules in DOCKER-USER accepting DNATed
// connections to and from the xoverlay bridges (xob-*); they go with the
// last published port.
//
// # State to rules
//
// Plan (pure, from one view of the replicated state) says which
// networks the ingress container needs and, per published port, the
// backends: the service's endpoints that discovery answers (running,
// healthy, node up, task meant to run) on the service's first network.
// The Controller turns it into two l4.Desired states (host and ingress
// namespaces, applied incrementally by an l4 data plane) and one l7
// Config per HTTP port, after every burst of commits, and reconciles
// the kernel and the container every reconcile interval.
package ingress
