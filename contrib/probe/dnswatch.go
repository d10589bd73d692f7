package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// cmdDNSWatch polls a DNS server for one name and prints a line each time
// the answer changes (and once for the first answer):
//
//	UNIXNANO ANSWER
//
// UNIXNANO is the wall-clock time the changed response was received (the
// change happened at most one interval plus one round trip before it);
// ANSWER is the sorted addresses joined by commas, "NOERROR-EMPTY", or the
// rcode name (NXDOMAIN, SERVFAIL...). Failed queries (timeouts) do not
// change the answer; they are printed as "UNIXNANO error MESSAGE", at most
// one such line per second. It stops after -duration, after -n queries or
// on SIGTERM/SIGINT (-n 1 makes it a one-shot query). The exit status is
// 0 even when queries failed.
func cmdDNSWatch(args []string) error {
	fs := flag.NewFlagSet("dnswatch", flag.ContinueOnError)
	server := fs.String("server", "169.254.53.53:53", "DNS server (UDP)")
	qtype := fs.String("type", "A", "query type: A or AAAA")
	interval := fs.Duration("interval", time.Millisecond, "pause between queries")
	timeout := fs.Duration("timeout", 200*time.Millisecond, "per-query timeout")
	duration := fs.Duration("duration", 10*time.Minute, "stop after this long")
	count := fs.Int("n", 0, "stop after this many queries (0: no limit)")
	name, err := parse(fs, args)
	if err != nil {
		return err
	}
	qt, ok := map[string]uint16{"A": dns.TypeA, "AAAA": dns.TypeAAAA}[strings.ToUpper(*qtype)]
	if !ok {
		return usageError{fmt.Errorf("-type %q: want A or AAAA", *qtype)}
	}
	if *timeout <= 0 || *duration <= 0 || *interval < 0 {
		return usageError{errors.New("-timeout and -duration must be positive, -interval not negative")}
	}
	raw, err := net.Dial("udp", *server)
	if err != nil {
		return fmt.Errorf("dial %s: %w", *server, err)
	}
	conn := &dns.Conn{Conn: raw}
	defer conn.Close()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	end := time.Now().Add(*duration)
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qt)
	last, lastErr := "", time.Time{}
	for sent := 0; time.Now().Before(end) && (*count == 0 || sent < *count); sent++ {
		select {
		case <-sigs:
			return nil
		default:
		}
		answer, at, err := watchOnce(conn, q, *timeout)
		switch {
		case err != nil:
			if at.Sub(lastErr) >= time.Second {
				fmt.Printf("%d error %v\n", at.UnixNano(), err)
				lastErr = at
			}
		case answer != last:
			fmt.Printf("%d %s\n", at.UnixNano(), answer)
			last = answer
		}
		if *interval > 0 && sent+1 != *count {
			time.Sleep(*interval)
		}
	}
	return nil
}

// watchOnce sends q with a fresh ID and waits for the response with that
// ID, returning its summary and when it arrived.
func watchOnce(conn *dns.Conn, q *dns.Msg, timeout time.Duration) (string, time.Time, error) {
	q.Id = dns.Id()
	deadline := time.Now().Add(timeout)
	if err := conn.SetDeadline(deadline); err != nil {
		return "", time.Now(), err
	}
	if err := conn.WriteMsg(q); err != nil {
		return "", time.Now(), fmt.Errorf("write: %w", err)
	}
	for {
		r, err := conn.ReadMsg()
		at := time.Now()
		if err != nil {
			return "", at, fmt.Errorf("read: %w", err)
		}
		if r.Id != q.Id {
			continue // a late response to an earlier query
		}
		return summarize(r), at, nil
	}
}

// summarize is the answer's addresses, sorted and comma-joined, or the
// rcode name, or NOERROR-EMPTY.
func summarize(r *dns.Msg) string {
	if r.Rcode != dns.RcodeSuccess {
		if s, ok := dns.RcodeToString[r.Rcode]; ok {
			return s
		}
		return fmt.Sprintf("RCODE%d", r.Rcode)
	}
	var addrs []string
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			addrs = append(addrs, v.A.String())
		case *dns.AAAA:
			addrs = append(addrs, v.AAAA.String())
		}
	}
	if len(addrs) == 0 {
		return "NOERROR-EMPTY"
	}
	slices.Sort(addrs)
	return strings.Join(addrs, ",")
}
