// Package dnsd is the per-host discovery DNS server of xoverlay.
//
// The agent runs one Server per host on a host-local address (by default
// 169.254.53.53:53, UDP and TCP) that containers reach through their
// gateway. Docker's embedded resolver (127.0.0.11) forwards to it the
// names it does not know, from inside the container's network namespace,
// so the source address of a query is the container's address on an
// xoverlay network.
//
// # Query path
//
// A query goes through a chain of small stages, ordered in one place
// (buildChain, handler.go), each a ServeDNS(ctx, request) (rcode, error)
// in the manner of CoreDNS plugins:
//
//	ratelimit  per-source token bucket (Config.ClientQPS), REFUSED over it
//	sanity     opcode (NOTIMP), one question (FORMERR), EDNS version
//	           (BADVERS), class IN (else REFUSED), no AXFR/IXFR (REFUSED)
//	cluster    the cluster's records, authoritative (AA)
//	any        RFC 8482: ANY for other names gets one HINFO, not forwarded
//	forward    cache, then the upstreams
//
// A panic anywhere is recovered, counted (xo_dns_panics_total) and
// answered SERVFAIL. Replies over UDP are truncated (TC) to 512 bytes or
// the client's EDNS0 size (at most 4096).
//
// # Cluster records
//
// The cluster stage reads an immutable index built from a Snapshot by
// Update and swapped atomically, through the small records interface it
// declares. Names are case-insensitive; a trailing dot and a ".DOMAIN"
// suffix (Config.Domain, "xo") are ignored. In service endpoints answer:
//
//	NAME            container names, network aliases, 12-character short IDs
//	NAME.NETWORK    the same on that network only (Docker's form)
//	SERVICE         its VIP on each visible network (mode vip with VIPs),
//	                else its in-service task endpoints (dnsrr, implicit)
//	tasks.SERVICE   the service's in-service task endpoints
//	TASK.SERVICE    that task's endpoints
//	reverse names   of endpoint addresses (and VIPs): "NAME.NETWORK."
//
// Server.UpdateServices changes only listed services (created, changed,
// renamed, removed) and gives the answers Update would for the snapshot so
// changed: the new index shares all but the few small shards of the
// services, zone and PTR maps the change writes, so its cost does not
// grow with the number of services.
//
// Container names come before service names. Several addresses make
// several records, rotated by a random offset per query. A name with
// addresses but none of the asked type gets NODATA; ANY gets the
// addresses. Every record has TTL Config.TTL (whole seconds).
//
// Cluster names are answered here and never forwarded, NXDOMAIN when
// absent or not visible: single-label names, names known to the index,
// names ending in a network or service name (visible or not), names
// under DOMAIN, and reverse names of addresses inside a network's
// subnet. NXDOMAIN and NODATA carry no SOA, so clients do not cache them
// (a container started a second later is found at once).
//
// # Scoping
//
// As Docker does, a query only sees the networks of the container that
// asks: the source address is looked up among all endpoints (in service
// or not; subnets never overlap, so an address is one endpoint), which
// gives the container, which gives every network it has an endpoint on.
// Only records on those networks are answered. Loopback sources and
// Config.HostAddrs (the server's own address, so host processes asking
// it) see every network; any other source sees none, so every cluster
// name is NXDOMAIN for it. Host sources are not rate limited either.
//
// # Forwarding
//
// Other names go to Config.Upstreams in order, each try given an equal
// share of what is left of Config.ForwardTimeout; errors, timeouts and
// SERVFAIL/REFUSED answers move on to the next. The query is sent over UDP
// with EDNS0 (size 1232, the client's DO and CD bits; client options such
// as cookies stay here, since answers are shared) and again over TCP if
// truncated. Identical questions in flight share one upstream query;
// at most Config.MaxConcurrent are in flight, more get SERVFAIL at once.
// Answers are cached (Config.CacheSize entries, random eviction) by
// name, type, class, DO and CD: positive ones for their smallest TTL (at
// most an hour), NXDOMAIN and NODATA for the SOA's negative TTL, both at
// most Config.NegativeTTL; failures for 2 s. TTLs count down in cached
// answers. Shutdown aborts forwarded queries in flight.
//
// # Performance
//
// Answering a cluster name or a cached forwarded one allocates nothing
// in this package (pooled request with scratch records and pack buffer;
// cached answers served as shallow copies, their TTLs lowered once per
// entry and second, not per hit; pre-resolved metric series; no
// per-query logging). UDPServer unpacks the common query (one question
// of plain labels, nothing else) itself, into the writer's question and
// a name interned per worker (udpquery.go), and the rest with miekg/dns:
// on UDPServer's path a query of the bench's mix allocates nothing, the
// bare responder's 5 times, 264 bytes (BenchmarkUDPPath). Over UDP the
// clock is read once per batch (the queries' arrival, for the latency
// histogram and the cache) and once per answer (its duration).
//
// UDP is served by UDPServer (udp.go), not by miekg/dns's server, which spends a goroutine, a read deadline
// and two system calls on every query: batches of up to 32 queries are
// read with one recvmmsg and answered with one sendmmsg, inline, by
// workers (one per CPU but one, Config.UDPWorkers), each on a socket of
// its own bound to the same address (SO_REUSEPORT): the kernel spreads
// the clients over the sockets and the workers never wait for each
// other's socket lock, which gave about a fifth more queries per second
// than workers sharing one socket (dnsbare and dnsperf on loopback, 2
// CPUs). On Linux the
// calls are raw system calls on the non-blocking socket, which keeps the
// runtime's monitor thread asleep. A query the forward stage sends
// upstream is detached from its batch and answered from a goroutine of
// its own; cache hits stay inline. TCP stays with miekg/dns. The
// "dns" scenario of contrib/bench measures it against dnsmasq and a bare
// responder on the same UDPServer.
package dnsd
