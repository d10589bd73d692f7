package plugins

import (
	"github.com/docker/go-plugins-helpers/ipam"
	"github.com/docker/go-plugins-helpers/network"
)

func registerNetwork(h *Handler, d network.Driver) {
	route(h, "/NetworkDriver.GetCapabilities", noArgs(d.GetCapabilities))
	route(h, "/NetworkDriver.CreateNetwork", noReply(d.CreateNetwork))
	route(h, "/NetworkDriver.AllocateNetwork", d.AllocateNetwork)
	route(h, "/NetworkDriver.DeleteNetwork", noReply(d.DeleteNetwork))
	route(h, "/NetworkDriver.FreeNetwork", noReply(d.FreeNetwork))
	route(h, "/NetworkDriver.CreateEndpoint", d.CreateEndpoint)
	route(h, "/NetworkDriver.DeleteEndpoint", noReply(d.DeleteEndpoint))
	route(h, "/NetworkDriver.EndpointOperInfo", d.EndpointInfo)
	route(h, "/NetworkDriver.Join", d.Join)
	route(h, "/NetworkDriver.Leave", noReply(d.Leave))
	route(h, "/NetworkDriver.DiscoverNew", noReply(d.DiscoverNew))
	route(h, "/NetworkDriver.DiscoverDelete", noReply(d.DiscoverDelete))
	route(h, "/NetworkDriver.ProgramExternalConnectivity", noReply(d.ProgramExternalConnectivity))
	route(h, "/NetworkDriver.RevokeExternalConnectivity", noReply(d.RevokeExternalConnectivity))
}

func registerIPAM(h *Handler, d ipam.Ipam) {
	route(h, "/IpamDriver.GetCapabilities", noArgs(d.GetCapabilities))
	route(h, "/IpamDriver.GetDefaultAddressSpaces", noArgs(d.GetDefaultAddressSpaces))
	route(h, "/IpamDriver.RequestPool", d.RequestPool)
	route(h, "/IpamDriver.ReleasePool", noReply(d.ReleasePool))
	route(h, "/IpamDriver.RequestAddress", d.RequestAddress)
	route(h, "/IpamDriver.ReleaseAddress", noReply(d.ReleaseAddress))
}
