// Command demoapp is a tiny HTTP/UDP/TCP demo service used by the xoverlay
// end-to-end tests. It is built as a static binary and shipped in the
// xo-demo image (FROM scratch).
//
// Endpoints (HTTP, -port):
//
//	/             JSON {"hostname","version","ip","remote"}
//	/healthz      200 "ok" (500 when unhealthy)
//	/health/fail  mark unhealthy (GET or POST)
//	/health/ok    mark healthy (GET or POST)
//	/echo         echoes the request body
//	/sleep?d=D    sleeps D (default 1s) then answers like /
//	/call         GETs the -call URL (env CALL) on a new connection and
//	              answers like / with the upstream's answer in "upstream"
//	              (502 with the error when the call fails)
//	/ws           WebSocket echo: each message comes back as sent
//
// A UDP echo server listens on the same port number, and a TCP echo server
// on -echo-port (0 disables it). "demoapp -check [-port N]" queries
// /healthz on 127.0.0.1 and exits 0 or 1; it is meant for HEALTHCHECK.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func envString(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		log.Fatalf("invalid %s=%q: %v", key, v, err)
	}
	return n
}

func envDuration(key string) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		log.Fatalf("invalid %s=%q: %v", key, v, err)
	}
	return d
}

func envBool(key string) bool {
	switch os.Getenv(key) {
	case "1", "true", "TRUE", "yes":
		return true
	}
	return false
}

type app struct {
	version string
	call    string       // URL /call fetches
	client  *http.Client // no keep-alive: every call resolves the name again
	healthy atomic.Bool
}

// info is the JSON document returned by / and /sleep.
type info struct {
	Hostname string   `json:"hostname"`
	Version  string   `json:"version"`
	IP       []string `json:"ip"`
	Remote   string   `json:"remote"`
	Slept    string   `json:"slept,omitempty"`
	Upstream any      `json:"upstream,omitempty"`
}

func localIPv4s() []string {
	ips := []string{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ips
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() {
			continue
		}
		if v4 := ipn.IP.To4(); v4 != nil {
			ips = append(ips, v4.String())
		}
	}
	return ips
}

func (a *app) info(r *http.Request) info {
	h, _ := os.Hostname()
	return info{Hostname: h, Version: a.version, IP: localIPv4s(), Remote: r.RemoteAddr}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, a.info(r))
	})
	mux.HandleFunc("/call", a.handleCall)
	mux.HandleFunc("/ws", a.handleWS)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !a.healthy.Load() {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/health/fail", func(w http.ResponseWriter, r *http.Request) {
		a.healthy.Store(false)
		io.WriteString(w, "health: fail\n")
	})
	mux.HandleFunc("/health/ok", func(w http.ResponseWriter, r *http.Request) {
		a.healthy.Store(true)
		io.WriteString(w, "health: ok\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		if r.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
		if _, err := io.Copy(w, r.Body); err != nil {
			log.Printf("echo from %s: %v", r.RemoteAddr, err)
		}
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		d := time.Second
		if s := r.URL.Query().Get("d"); s != "" {
			var err error
			if d, err = time.ParseDuration(s); err != nil {
				http.Error(w, "bad duration: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		in := a.info(r)
		in.Slept = d.String()
		writeJSON(w, in)
	})
	return mux
}

// handleCall answers /call: the upstream's JSON inside ours.
func (a *app) handleCall(w http.ResponseWriter, r *http.Request) {
	if a.call == "" {
		http.Error(w, "no -call URL (env CALL) configured", http.StatusNotFound)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, a.call, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	res, err := a.client.Do(req)
	if err != nil {
		http.Error(w, "call "+a.call+": "+err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	var up any
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&up); err != nil || res.StatusCode != http.StatusOK {
		http.Error(w, fmt.Sprintf("call %s: status %d, %v", a.call, res.StatusCode, err), http.StatusBadGateway)
		return
	}
	i := a.info(r)
	i.Upstream = up
	writeJSON(w, i)
}

func udpEcho(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("udp read: %v", err)
			continue
		}
		if _, err := pc.WriteTo(buf[:n], addr); err != nil {
			log.Printf("udp write to %s: %v", addr, err)
		}
	}
}

func tcpEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("tcp echo accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// check performs the health check used as Docker HEALTHCHECK.
func check(port int, timeout time.Duration) int {
	cl := &http.Client{Timeout: timeout}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	fmt.Printf("%d %s", resp.StatusCode, body)
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("demoapp: ")
	log.SetOutput(os.Stdout)

	port := flag.Int("port", envInt("PORT", 8080), "HTTP and UDP echo port (env PORT)")
	version := flag.String("version", envString("VERSION", "v1"), "version reported by / (env VERSION)")
	failHealth := flag.Bool("fail-health", envBool("FAIL_HEALTH"), "start unhealthy: /healthz returns 500 (env FAIL_HEALTH=1)")
	startDelay := flag.Duration("start-delay", envDuration("START_DELAY"), "sleep before listening (env START_DELAY)")
	stopLinger := flag.Duration("stop-linger", envDuration("STOP_LINGER"), "keep serving this long after SIGTERM (env STOP_LINGER)")
	echoPort := flag.Int("echo-port", envInt("ECHO_PORT", 7), "TCP echo port, 0 disables (env ECHO_PORT)")
	call := flag.String("call", os.Getenv("CALL"), "URL that /call fetches, e.g. http://api:8080/ (env CALL)")
	checkMode := flag.Bool("check", false, "query http://127.0.0.1:PORT/healthz and exit 0 (healthy) or 1")
	checkTimeout := flag.Duration("check-timeout", 3*time.Second, "timeout for -check")
	flag.Parse()

	if *checkMode {
		os.Exit(check(*port, *checkTimeout))
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	if *startDelay > 0 {
		log.Printf("start delay %s", *startDelay)
		select {
		case <-time.After(*startDelay):
		case s := <-sigs:
			log.Printf("got %s during start delay, exiting", s)
			return
		}
	}

	a := &app{version: *version, call: *call, client: &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
	a.healthy.Store(!*failHealth)

	addr := fmt.Sprintf(":%d", *port)
	hl, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatalf("http listen: %v", err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		log.Fatalf("udp listen: %v", err)
	}
	go udpEcho(pc)
	var el net.Listener
	if *echoPort > 0 {
		if el, err = net.Listen("tcp", fmt.Sprintf(":%d", *echoPort)); err != nil {
			log.Printf("tcp echo disabled: %v", err)
		} else {
			go tcpEcho(el)
		}
	}

	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(hl) }()
	log.Printf("version %s listening on http/udp %s, tcp echo %d, healthy=%v", a.version, addr, *echoPort, a.healthy.Load())

	select {
	case err := <-srvErr:
		log.Fatalf("http serve: %v", err)
	case s := <-sigs:
		log.Printf("got %s", s)
	}

	if *stopLinger > 0 {
		log.Printf("lingering %s before shutdown", *stopLinger)
		select {
		case <-time.After(*stopLinger):
		case s := <-sigs:
			log.Printf("got %s while lingering, shutting down now", s)
		}
	}

	pc.Close()
	if el != nil {
		el.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		<-sigs
		log.Printf("second signal, exiting")
		os.Exit(1)
	}()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
	}
	log.Printf("bye")
}
