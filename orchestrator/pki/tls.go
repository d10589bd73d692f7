package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// ALPN protocols on the cluster port: raft streams and node RPC share it.
const (
	ProtoRaft = "xo-raft"
	ProtoRPC  = "xo-rpc"
)

// Material is a node's TLS identity.
type Material struct {
	CA    *x509.Certificate
	CAKey *ecdsa.PrivateKey // managers only
	Cert  *x509.Certificate
	Key   *ecdsa.PrivateKey
}

// NodeID is the node ID certified by the material.
func (m Material) NodeID() string { return m.Cert.Subject.CommonName }

func (m Material) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(m.CA)
	return p
}

func (m Material) certificate() tls.Certificate {
	// The chain carries the CA so a joiner can check it against its token.
	return tls.Certificate{Certificate: [][]byte{m.Cert.Raw, m.CA.Raw}, PrivateKey: m.Key, Leaf: m.Cert}
}

// ServerConfig serves the cluster port. Client certificates are checked
// when given; raft and authenticated RPCs insist on one, the join RPC
// (whose caller has no certificate yet) does not.
func (m Material) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.certificate()},
		ClientCAs:    m.pool(),
		ClientAuth:   tls.VerifyClientCertIfGiven,
		NextProtos:   []string{ProtoRaft, ProtoRPC},
	}
}

// ClientConfig dials another node for proto, with this node's certificate.
func (m Material) ClientConfig(proto string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.certificate()},
		RootCAs:      m.pool(),
		NextProtos:   []string{proto},
	}
}

// ErrWrongCA means the remote cluster's CA is not the token's.
var ErrWrongCA = errors.New("the cluster's CA does not match the token")

// JoinConfig dials a manager before this node has any certificate: the
// server's chain must end in a CA whose digest is the token's.
func JoinConfig(caDigest string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{ProtoRPC},
		InsecureSkipVerify: true, // verified below against the token's CA digest
		VerifyConnection: func(cs tls.ConnectionState) error {
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if c.IsCA && Digest(c) == caDigest {
					ca = c
				}
			}
			if ca == nil || len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: is the token for this cluster?", ErrWrongCA)
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("%w: %w", ErrWrongCA, err)
			}
			return nil
		},
	}
}

// PeerNode returns the verified node ID and role of a TLS peer, or ok=false
// when it presented no certificate of this cluster.
func PeerNode(cs *tls.ConnectionState) (id, role string, ok bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 {
		return "", "", false
	}
	leaf := cs.VerifiedChains[0][0]
	if len(leaf.Subject.OrganizationalUnit) > 0 {
		role = leaf.Subject.OrganizationalUnit[0]
	}
	return leaf.Subject.CommonName, role, true
}
