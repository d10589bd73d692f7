package upstream

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Policy is how a Group spreads requests over its members.
type Policy string

// The policies, named as nginx names its upstream directives.
const (
	// RoundRobin is nginx's smooth weighted round robin (the default).
	RoundRobin Policy = "round_robin"
	// LeastConn picks the member with the fewest requests in flight
	// relative to its weight; ties go round robin.
	LeastConn Policy = "least_conn"
	// IPHash keeps a client (its IPv4 /24, or its whole IPv6 address) on
	// one member while that member is available.
	IPHash Policy = "ip_hash"
	// Hash is a consistent hash (a ketama-like ring) on a request key:
	// removing a member moves only the keys that were on it.
	Hash Policy = "hash"
)

// Policies lists the valid policies, for error messages and flags.
var Policies = []Policy{RoundRobin, LeastConn, IPHash, Hash}

// Valid reports whether p is one of Policies ("" is not: see Or).
func (p Policy) Valid() bool {
	switch p {
	case RoundRobin, LeastConn, IPHash, Hash:
		return true
	}
	return false
}

// Or is p, or def when p is empty.
func (p Policy) Or(def Policy) Policy {
	if p == "" {
		return def
	}
	return p
}

// Defaults and limits of Server.
const (
	DefaultWeight      = 1
	MaxWeight          = 1000
	DefaultMaxFails    = 1
	DefaultFailTimeout = 10 * time.Second
	// NoMaxFails as Server.MaxFails turns passive health off for the
	// server (nginx's max_fails=0).
	NoMaxFails = -1
)

// Server is one backend of an upstream, as in nginx's "server" directive.
type Server struct {
	// Addr is host:port; the host is an IP address or a name resolved
	// when a connection is made.
	Addr string
	// Weight is the share of requests relative to the other members
	// (1..MaxWeight; 0 means DefaultWeight).
	Weight int
	// MaxFails failures within FailTimeout make the server unavailable
	// for FailTimeout (0 means DefaultMaxFails, NoMaxFails disables it).
	MaxFails int
	// FailTimeout is both the window in which failures count and how
	// long the server is then skipped (0 means DefaultFailTimeout).
	FailTimeout time.Duration
	// MaxConns caps the server's requests in flight; a server at its
	// cap is skipped (0: no cap).
	MaxConns int
	// Backup servers get requests only when no primary server is
	// available.
	Backup bool
}

// WithDefaults is s with zero fields set to their defaults.
func (s Server) WithDefaults() Server {
	if s.Weight == 0 {
		s.Weight = DefaultWeight
	}
	if s.MaxFails == 0 {
		s.MaxFails = DefaultMaxFails
	}
	if s.FailTimeout == 0 {
		s.FailTimeout = DefaultFailTimeout
	}
	return s
}

// Validate checks s (defaults applied or not); the error names the field
// and the fix.
func (s Server) Validate() error {
	if err := ValidateAddr(s.Addr); err != nil {
		return err
	}
	if s.Weight < 0 || s.Weight > MaxWeight {
		return fmt.Errorf("weight %d: use 1 to %d (0 means %d)", s.Weight, MaxWeight, DefaultWeight)
	}
	if s.MaxFails < NoMaxFails {
		return fmt.Errorf("max_fails %d: use a positive count, 0 for the default (%d) or %d to disable passive health", s.MaxFails, DefaultMaxFails, NoMaxFails)
	}
	if s.FailTimeout < 0 {
		return fmt.Errorf("fail_timeout %v: use a positive duration (0 means %v)", s.FailTimeout, DefaultFailTimeout)
	}
	if s.MaxConns < 0 {
		return fmt.Errorf("max_conns %d: use a positive cap, or 0 for none", s.MaxConns)
	}
	return nil
}

// ValidateAddr checks a backend address: host:port with a numeric port
// 1..65535 and an IP address or a DNS name as host.
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: want host:port, as 10.0.0.5:8080 or [fd00::5]:8080: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port %q: want a number from 1 to 65535", addr, port)
	}
	if host == "" {
		return fmt.Errorf("address %q: the host is empty: give an IP address or a name", addr)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if err := validDNSName(host); err != nil {
		return fmt.Errorf("address %q: host is neither an IP address nor a valid name: %w", addr, err)
	}
	return nil
}

// validDNSName checks a host name: labels of letters, digits, '-' and
// '_', 1..63 bytes each, 253 bytes in all.
func validDNSName(name string) error {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return errors.New("a name has 1 to 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("label %q: labels have 1 to 63 characters", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return fmt.Errorf("label %q: character %q: use letters, digits and '-'", label, c)
			}
		}
	}
	return nil
}
