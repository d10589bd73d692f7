// Package l7 is the node's HTTP proxy: routes by host and path to
// nginx-style upstreams (package upstream), keep-alive pools to the
// backends (package connpool), retries, passive health, graceful drain
// and atomic configuration swaps.
//
// A Server is fed by its owner, the agent, with Update(Config): routes
// (Host exact or "*.example.com", longest path prefix) to upstreams
// (servers with weights, max_fails/fail_timeout, max_conns, backup; the
// policies round_robin, least_conn, ip_hash and hash). Update validates
// first and refuses a bad Config whole; a good one replaces the old
// atomically. Requests in flight finish on the configuration they began
// with; a removed backend drains (no new request, its requests in flight
// finish, then its connections close); a backend that stays keeps its
// connections and health.
//
// Clients speak HTTP/1.1 (or 1.0) to the proxy's own connection loop,
// which parses strictly (a request the proxy reads one way and a backend
// another is how requests get smuggled) and re-frames every request it
// forwards; or cleartext HTTP/2 with prior knowledge, served by
// net/http. Upgrades (WebSocket) become byte tunnels. Backends are spoken
// to in HTTP/1.1 over keep-alive connections.
//
// Retries follow nginx's proxy_next_upstream: a failure to connect is
// retried on another backend for any method (nothing was sent); a
// timeout, a broken connection, or a 502, 503 or 504 answer only for an
// idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) whose body can be
// sent again (none, or kept because it is at most
// Options.RetryBodyLimit). Tries are bounded by Upstream.MaxTries and
// Upstream.RetryTimeout; the last answer is passed on, or 502/504 with a
// message naming the service when no backend answered. Failed tries count
// against the backend's max_fails.
//
// Timeouts (Options) are enforced by a watchdog instead of a timer per
// request; it ticks every quarter of the shortest timeout (at most every
// second), which is how exact they are. Metrics are registered on
// Options.Registerer: xo_lb_http_requests_total{service,backend,code},
// xo_lb_http_request_duration_seconds{service},
// xo_lb_http_retries_total{service},
// xo_lb_http_active_connections{service},
// xo_lb_http_backend_up{service,backend} and
// xo_lb_http_config_updates_total; the series of removed backends and
// services are deleted once they drained.
//
// Not supported: TLS, HTTP/2 to backends, request trailers, HTTP/2
// extended CONNECT (WebSocket over HTTP/2), forward-proxy CONNECT.
package l7
