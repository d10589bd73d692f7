// Package upstream is the balancing half of the L7 proxy: nginx-style
// upstream groups with no I/O of their own.
//
// A Peer is one backend server's shared state: requests in flight, passive
// health (max_fails within fail_timeout, then down for fail_timeout, then
// one probe), and the drain flag of a server removed by a configuration
// update. Peers outlive configurations: the proxy keeps a server's Peer
// while the server stays in the configuration, so its health and its
// in-flight count carry over an update.
//
// A Group is one configuration's view of an upstream: its members (a Peer,
// a weight, a backup flag) and a policy (round_robin, least_conn, ip_hash,
// hash). Group.Pick chooses a member that is available and not yet tried
// by the request, claims it (the in-flight count, or the probe of a server
// coming back) and returns its index; the caller reports the outcome with
// Peer.Fail or Peer.Success and always calls Peer.Release. Backup members
// are chosen only when no primary member can be.
//
// Time is always passed in by the caller, so tests drive the clock.
package upstream
