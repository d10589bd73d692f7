// Package vip programs service VIPs into the containers of one node.
//
// The Controller runs on every agent. For each running container of the
// local engine that is on xoverlay networks, it keeps an L4 data plane
// (lbproxy/l4: nftables here, IPVS or userspace elsewhere) in the
// container's own network namespace, so the client's address reaches
// the task unchanged. The namespace gets, for every network the container
// is on, the VIP of every service on that network (state.Service.VIPs),
// address-only like a Swarm VIP: any TCP or UDP port of the VIP goes to
// the same port of one of the service's backends on that network.
//
// A backend is an endpoint of the service (label xo.service) that
// discovery answers (state.ReadTx.InService: running, healthy when it has
// a healthcheck, on a node that is not down) and whose task, for a
// managed service, is still meant to run: a task being scaled away or
// replaced stops getting new connections as soon as the orchestrator
// decides it, before its container is stopped.
//
// Replies need nothing on the backend's side: the client's namespace
// rewrote the destination, the task answers the client's own address,
// and the client's conntrack entry turns the reply's source back into
// the VIP.
//
// Containers are followed through the engine's events (start, die,
// network connect and disconnect) and a periodic list; the state through
// the replica's commit feed. After each burst of commits the controller
// updates the VIP table from the commits' events only (tracker: the cost
// of the change, not of the number of services) and hands the changed
// entries to the namespaces of their networks: a plane that takes
// changes (nftables: Patch) writes only those frontends, the others get
// the whole table. Every --reconcile-interval the table is rebuilt, the
// engine listed again and every namespace reconciled against the kernel.
package vip
