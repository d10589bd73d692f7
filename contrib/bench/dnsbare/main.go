// Command dnsbare is the limit of the "dns" benchmark: the smallest DNS
// server that can be written with github.com/miekg/dns (the library
// xoverlay's dnsd is built on), answering every query with one fixed A
// record and doing nothing else. dnsd, which looks names up, scopes them
// and forwards, is measured against it.
//
//	dnsbare [-listen 127.0.0.1:5300] [-udp dnsd|miekg] [-workers N] [-udp-sockets N] [-answer 192.0.2.1] [-ttl 1]
//
// It serves UDP and TCP on the same address until SIGTERM or SIGINT. TCP
// is miekg/dns's dns.Server, as in dnsd. UDP is, with -udp dnsd (the
// default), the UDP server dnsd itself runs (dnsd.UDPServer: -workers
// goroutines reading batches with recvmmsg), so that dnsd and its limit
// differ only in what the handler does; with -udp miekg, miekg/dns's
// dns.Server (with -udp-sockets N > 1, N of them on SO_REUSEPORT sockets).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/xoverlay/xoverlay/dnsd"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "dnsbare: %v\n", err)
		os.Exit(1)
	}
}

// server is one way of serving: started, then shut down.
type server interface {
	serve() error
	shutdown() error
}

func run(args []string) error {
	fs := flag.NewFlagSet("dnsbare", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5300", "UDP and TCP address to serve")
	udp := fs.String("udp", "dnsd", "UDP server: dnsd (dnsd.UDPServer, as dnsd) or miekg (miekg/dns's dns.Server)")
	workers := fs.Int("workers", 0, "-udp dnsd: serving goroutines, a socket each (0: dnsd's default, dnsd.DefaultUDPWorkers)")
	sockets := fs.Int("udp-sockets", 1, "-udp miekg: UDP sockets (SO_REUSEPORT when more than 1)")
	answer := fs.String("answer", "192.0.2.1", "the IPv4 address of every answer")
	ttl := fs.Uint("ttl", 1, "TTL of the answer, seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ip, err := netip.ParseAddr(*answer)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("-answer %q: want an IPv4 address", *answer)
	}
	if *sockets < 1 || *sockets > 64 {
		return fmt.Errorf("-udp-sockets %d: want 1..64", *sockets)
	}
	h := fixed(net.IP(ip.AsSlice()), uint32(*ttl))

	var servers []server
	switch *udp {
	case "dnsd":
		n := *workers
		if n == 0 {
			n = dnsd.DefaultUDPWorkers()
		}
		u, err := dnsd.ListenUDP(*listen, n, h)
		if err != nil {
			return err
		}
		servers = append(servers, dnsdUDP{u})
	case "miekg":
		// The read buffer size is dnsd's (it takes EDNS0 queries up to
		// 4096 bytes); everything else is miekg/dns's default.
		for range *sockets {
			servers = append(servers, newMiekg(&dns.Server{Addr: *listen, Net: "udp", Handler: h,
				ReusePort: *sockets > 1, UDPSize: 4096}))
		}
	default:
		return fmt.Errorf("-udp %q: want dnsd or miekg", *udp)
	}
	servers = append(servers, newMiekg(&dns.Server{Addr: *listen, Net: "tcp", Handler: h}))

	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.serve() }()
	}
	if err := started(servers, errc); err != nil {
		return err
	}
	fmt.Printf("dnsbare: serving %s (udp: %s, tcp), answer A %s\n", *listen, *udp, ip)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	var runErr error
	select {
	case <-sigs:
	case runErr = <-errc:
	}
	errs := []error{runErr}
	for _, s := range servers {
		errs = append(errs, s.shutdown())
	}
	return errors.Join(errs...)
}

// started waits until the miekg/dns servers listen (dnsd's UDP server is
// bound already), or for the first error.
func started(servers []server, errc chan error) error {
	for _, s := range servers {
		m, ok := s.(*miekg)
		if !ok {
			continue
		}
		select {
		case <-m.started:
		case err := <-errc:
			return err
		}
	}
	return nil
}

type dnsdUDP struct{ u *dnsd.UDPServer }

func (d dnsdUDP) serve() error {
	if err := d.u.Serve(); err != nil {
		return fmt.Errorf("udp: %w", err)
	}
	return nil
}

func (d dnsdUDP) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.u.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown udp: %w", err)
	}
	return nil
}

type miekg struct {
	s       *dns.Server
	started chan struct{}
}

func newMiekg(s *dns.Server) *miekg {
	m := &miekg{s: s, started: make(chan struct{})}
	s.NotifyStartedFunc = func() { close(m.started) }
	return m
}

func (m *miekg) serve() error {
	if err := m.s.ListenAndServe(); err != nil {
		return fmt.Errorf("%s %s: %w", m.s.Net, m.s.Addr, err)
	}
	return nil
}

func (m *miekg) shutdown() error {
	if err := m.s.Shutdown(); err != nil {
		return fmt.Errorf("shutdown %s: %w", m.s.Net, err)
	}
	return nil
}

// fixed answers every query with one A record for the question's name.
func fixed(ip net.IP, ttl uint32) dns.Handler {
	return dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if len(r.Question) == 1 {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   ip,
			}}
		} else {
			m.Rcode = dns.RcodeFormatError
		}
		_ = w.WriteMsg(m)
	})
}
