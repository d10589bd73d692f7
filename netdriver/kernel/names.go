// Package kernel implements netdriver.Kernel on Linux through netlink: one
// bridge plus one VXLAN device per overlay network, and one veth pair per
// endpoint. Device names come from netdriver's name helpers.
package kernel

// maxNameLen is the longest interface name Linux accepts (IFNAMSIZ-1).
const maxNameLen = 15
