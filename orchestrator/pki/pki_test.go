package pki

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func node(t *testing.T, ca CA, id, role string) Material {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(&key.PublicKey, NodeRequest{NodeID: id, Role: role, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return Material{CA: ca.Cert, Cert: cert, Key: key}
}

// handshake serves one TLS connection with srv and dials it with cli.
func handshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan tls.ConnectionState, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(got)
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if tc.Handshake() == nil {
			got <- tc.ConnectionState()
		}
		close(got)
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), cli)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return <-got, nil
}

func TestMutualTLS(t *testing.T) {
	ca, err := NewCA("c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, b := node(t, ca, "node-a", "manager"), node(t, ca, "node-b", "worker")
	cs, err := handshake(t, a.ServerConfig(), b.ClientConfig(ProtoRaft))
	if err != nil {
		t.Fatal(err)
	}
	if id, role, ok := PeerNode(&cs); !ok || id != "node-b" || role != "worker" || cs.NegotiatedProtocol != ProtoRaft {
		t.Fatalf("peer = %q %q %v proto %q", id, role, ok, cs.NegotiatedProtocol)
	}

	other, _ := NewCA("c2", time.Now())
	stranger := node(t, other, "stranger", "manager")
	cs, err = handshake(t, a.ServerConfig(), stranger.ClientConfig(ProtoRaft))
	if err == nil {
		if _, _, ok := PeerNode(&cs); ok {
			t.Fatal("a certificate of another CA was accepted")
		}
	}
	if _, err := handshake(t, stranger.ServerConfig(), a.ClientConfig(ProtoRPC)); err == nil {
		t.Fatal("client trusted a server of another CA")
	}
}

func TestJoinChecksTheTokensCA(t *testing.T) {
	ca, _ := NewCA("c1", time.Now())
	other, _ := NewCA("c2", time.Now())
	mgr := node(t, ca, "mgr", "manager")
	cs, err := handshake(t, mgr.ServerConfig(), JoinConfig(Digest(ca.Cert)))
	if err != nil {
		t.Fatalf("join with the right CA digest: %v", err)
	}
	if _, _, ok := PeerNode(&cs); ok {
		t.Fatal("a joiner without a certificate counted as a node")
	}
	if _, err := handshake(t, mgr.ServerConfig(), JoinConfig(Digest(other.Cert))); !errors.Is(err, ErrWrongCA) && (err == nil || !strings.Contains(err.Error(), "does not match the token")) {
		t.Fatalf("join with another cluster's digest: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ca, _ := NewCA("c1", time.Now())
	secret := NewSecret()
	tok := FormatToken(Digest(ca.Cert), secret)
	d, s, err := ParseToken(tok)
	if err != nil || d != Digest(ca.Cert) || s != secret {
		t.Fatalf("round trip: %v", err)
	}
	if !SecretMatches(s, HashSecret(secret)) || SecretMatches(NewSecret(), HashSecret(secret)) {
		t.Fatal("secret matching")
	}
	for _, bad := range []string{"", "SWMTKN-1-abc", tok[:len(tok)-1], strings.Replace(tok, "-1-", "-1-zz", 1)} {
		if _, _, err := ParseToken(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	ca, _ := NewCA("c1", time.Now())
	m := node(t, ca, "n1", "manager")
	m.CAKey = ca.Key
	dir := t.TempDir()
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil || got.NodeID() != "n1" || got.CAKey == nil || !got.CA.Equal(ca.Cert) {
		t.Fatalf("load: %v", err)
	}
}

func TestSealedSecrets(t *testing.T) {
	ca, _ := NewCA("c1", time.Now())
	other, _ := NewCA("c2", time.Now())
	sealed, err := SealSecret(ca.Key, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenSecret(ca.Key, sealed); err != nil || got != "s3cret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := OpenSecret(other.Key, sealed); err == nil {
		t.Fatal("opened with another CA's key")
	}
	if _, err := OpenSecret(nil, sealed); err == nil {
		t.Fatal("opened without a key")
	}
}
