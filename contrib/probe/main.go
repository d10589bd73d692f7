// Command probe is a small network client used from inside test containers
// (and simulated hosts) by the xoverlay end-to-end tests. It replaces
// busybox wget/nslookup and talks to contrib/demoapp.
//
//	probe http URL [-n COUNT] [-interval D] [-timeout D] [-size N]
//	probe tcp HOST:PORT [-size N] [-timeout D]
//	probe udp HOST:PORT [-size N] [-timeout D]
//	probe resolve NAME [-timeout D] [-server IP:PORT]
//	probe load -url URL [-url URL ...] -rate R -duration D [-stop-file PATH] [-timeout 2s] [-conns 64]
//	probe sleep
//
// Flags may appear before or after the positional argument. The exit status
// is 0 on success, 1 when a probe failed and 2 on usage errors.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `usage:
  probe http URL [-n COUNT] [-interval D] [-timeout D] [-size N]
      GET URL COUNT times and print each body line (or "error: ...").
      With -size N, POST N bytes instead and check they are echoed back.
  probe tcp HOST:PORT [-size N] [-timeout D]
      send N bytes to a TCP echo server and check they come back
  probe udp HOST:PORT [-size N] [-timeout D]
      send an N byte datagram to a UDP echo server and check the reply
  probe resolve NAME [-timeout D] [-server IP:PORT]
      resolve NAME with the pure Go resolver and print the addresses
  probe dnswatch NAME [-server 169.254.53.53:53] [-type A|AAAA] [-interval 1ms]
                 [-timeout 200ms] [-duration 10m] [-n N]
      query NAME at -server every -interval and print "UNIXNANO ANSWER" when
      the answer changes (addresses, or the rcode), for -duration or N queries
  probe load -url URL [-url URL ...] -rate R -duration D [-stop-file PATH]
             [-timeout 2s] [-conns 64]
      GET the URLs round-robin at R requests/s in total (keep-alive, at most
      -conns in flight) until D passed, PATH exists or SIGTERM/SIGINT; count
      failures (transport errors, timeouts, status != 200) and the "version"
      of each answer. A progress line every second on stderr, one JSON
      report on stdout; exit status 0 even when requests failed.
  probe sleep
      block until SIGTERM or SIGINT
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "http":
		err = cmdHTTP(args)
	case "tcp":
		err = cmdStream(args)
	case "udp":
		err = cmdUDP(args)
	case "resolve":
		err = cmdResolve(args)
	case "dnswatch":
		err = cmdDNSWatch(args)
	case "load":
		err = cmdLoad(args)
	case "sleep":
		cmdSleep()
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "probe: unknown command %q\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(os.Stderr, "probe %s: %v\n%s", cmd, err, usage)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "probe %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// parse parses flags interleaved with exactly one positional argument.
func parse(fs *flag.FlagSet, args []string) (string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != 1 {
		return "", usageError{fmt.Errorf("want exactly one argument, got %d", len(pos))}
	}
	return pos[0], nil
}

// payload returns n deterministic, non-repeating-looking bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func cmdHTTP(args []string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	n := fs.Int("n", 1, "number of requests")
	interval := fs.Duration("interval", 0, "pause between requests")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	size := fs.Int("size", 0, "POST this many bytes and verify the echo")
	url, err := parse(fs, args)
	if err != nil {
		return err
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	// A new connection per request, so that load balancing is visible.
	cl := &http.Client{
		Timeout:   *timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	var body []byte
	if *size > 0 {
		body = payload(*size)
	}
	failed := 0
	for i := 0; i < *n; i++ {
		if i > 0 && *interval > 0 {
			time.Sleep(*interval)
		}
		if err := httpOnce(cl, url, body); err != nil {
			fmt.Printf("error: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, *n)
	}
	return nil
}

func httpOnce(cl *http.Client, url string, body []byte) error {
	var resp *http.Response
	var err error
	if body != nil {
		resp, err = cl.Post(url, "application/octet-stream", bytes.NewReader(body))
	} else {
		resp, err = cl.Get(url)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s: %s", resp.Status, strings.TrimSpace(string(got)))
	}
	if body != nil {
		if !bytes.Equal(got, body) {
			return fmt.Errorf("echo mismatch: sent %d bytes, got %d", len(body), len(got))
		}
		fmt.Printf("ok %d bytes echoed\n", len(got))
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(got))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		fmt.Println(sc.Text())
	}
	return nil
}

func cmdStream(args []string) error {
	fs := flag.NewFlagSet("tcp", flag.ContinueOnError)
	size := fs.Int("size", 1024, "bytes to send")
	timeout := fs.Duration("timeout", 10*time.Second, "overall timeout")
	addr, err := parse(fs, args)
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, *timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(start.Add(*timeout))
	data := payload(*size)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %v", err)
	}
	if rerr != nil {
		return fmt.Errorf("read: %v (got %d of %d bytes)", rerr, len(got), len(data))
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echo mismatch: sent %d bytes, got %d", len(data), len(got))
	}
	fmt.Printf("ok %d bytes echoed by %s via tcp in %s\n", len(got), c.RemoteAddr(), time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdUDP(args []string) error {
	fs := flag.NewFlagSet("udp", flag.ContinueOnError)
	size := fs.Int("size", 64, "datagram size (max 65507)")
	timeout := fs.Duration("timeout", 2*time.Second, "timeout per attempt (3 attempts)")
	addr, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	data := payload(*size)
	buf := make([]byte, 65536)
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		start := time.Now()
		if _, err := c.Write(data); err != nil {
			last = fmt.Errorf("write: %v", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		c.SetReadDeadline(start.Add(*timeout))
		n, err := c.Read(buf)
		if err != nil {
			last = fmt.Errorf("read: %v", err)
			continue
		}
		if !bytes.Equal(buf[:n], data) {
			return fmt.Errorf("echo mismatch: sent %d bytes, got %d", len(data), n)
		}
		fmt.Printf("ok %d bytes echoed by %s via udp in %s\n", n, c.RemoteAddr(), time.Since(start).Round(time.Millisecond))
		return nil
	}
	return last
}

func cmdResolve(args []string) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 5*time.Second, "timeout")
	server := fs.String("server", "", "ask this DNS server (IP:PORT) instead of /etc/resolv.conf's")
	name, err := parse(fs, args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := &net.Resolver{PreferGo: true}
	if *server != "" {
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *server)
		}
	}
	addrs, err := r.LookupHost(ctx, name)
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%s: no addresses", name)
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
	return nil
}

func cmdSleep() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}
