package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/pki"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// JoinRequest is what a joining node sends a manager.
type JoinRequest struct {
	Token        string             `json:"token"`
	NodeID       string             `json:"node_id"`
	Hostname     string             `json:"hostname"`
	Addr         string             `json:"addr"`      // underlay IP
	RaftAddr     string             `json:"raft_addr"` // host:port
	PublicKey    []byte             `json:"public_key"`
	Capabilities state.Capabilities `json:"capabilities"`
	Capacity     state.Resources    `json:"capacity,omitzero"`
}

// JoinResponse is the joiner's identity in the cluster.
type JoinResponse struct {
	ClusterID string `json:"cluster_id"`
	Role      string `json:"role"`
	CACert    []byte `json:"ca_cert"`
	Cert      []byte `json:"cert"`
	CAKey     []byte `json:"ca_key,omitempty"` // managers only
}

// Join asks the manager at addr to admit this node. The manager's CA is
// checked against the token's digest before anything is sent.
func Join(ctx context.Context, addr string, req JoinRequest) (JoinResponse, error) {
	var out JoinResponse
	digest, _, err := pki.ParseToken(req.Token)
	if err != nil {
		return out, err
	}
	body, _ := json.Marshal(req)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.JoinConfig(digest)}}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+"/rpc/v1/join", bytes.NewReader(body))
	if err != nil {
		return out, fmt.Errorf("join %s: %w", addr, err)
	}
	resp, err := client.Do(hreq)
	if err != nil {
		if errors.Is(err, pki.ErrWrongCA) {
			return out, fmt.Errorf("join %s: %w", addr, pki.ErrWrongCA)
		}
		return out, fmt.Errorf("join %s: cannot reach a manager there: %w", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("join %s: %w", addr, rpcError(resp.StatusCode, b))
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("join %s: decode answer: %w", addr, err)
	}
	return out, nil
}

func (c *Raft) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if !decode(w, r, &req) {
		return
	}
	resp, code, err := c.admit(r.Context(), req)
	if err != nil {
		c.log.Warn("join refused", "node", req.NodeID, "hostname", req.Hostname, "from", r.RemoteAddr, "err", err)
		writeErr(w, code, err)
		return
	}
	c.log.Info("node joined", "node", req.NodeID, "hostname", req.Hostname, "role", resp.Role)
	writeJSON(w, http.StatusOK, resp)
}

// admit checks the token, certifies the node, records it and adds it to
// raft as a non-voter (the leader makes managers voters once they are up).
func (c *Raft) admit(ctx context.Context, req JoinRequest) (JoinResponse, int, error) {
	var out JoinResponse
	digest, secret, err := pki.ParseToken(req.Token)
	if err != nil {
		return out, http.StatusBadRequest, err
	}
	mat := c.tlsMaterial()
	if digest != pki.Digest(mat.CA) {
		return out, http.StatusForbidden, errors.New("the token is for another cluster")
	}
	// Judge the token against a replica that has caught up (a manager that
	// just joined, or a token rotated a moment ago).
	if err := c.WaitApplied(ctx); err != nil {
		return out, http.StatusServiceUnavailable, err
	}
	var cl state.Cluster
	c.cfg.Store.View(func(tx state.ReadTx) {
		if p := tx.Cluster(); p != nil {
			cl = *p
		}
	})
	switch {
	case pki.SecretMatches(secret, cl.ManagerSecret):
		out.Role = state.RoleManager
	case pki.SecretMatches(secret, cl.WorkerSecret):
		out.Role = state.RoleWorker
	default:
		return out, http.StatusForbidden, errors.New("invalid join token: it was rotated or is wrong; get the current one with 'xo cluster token worker' (or manager) on a manager")
	}
	if mat.CAKey == nil {
		return out, http.StatusBadRequest, errors.New("this node is not a manager; join through a manager's address")
	}
	if req.NodeID == "" || req.RaftAddr == "" || net.ParseIP(req.Addr) == nil {
		return out, http.StatusBadRequest, errors.New("join request lacks node ID, raft address or underlay address")
	}
	cert, err := c.certify(req, out.Role)
	if err != nil {
		return out, http.StatusBadRequest, err
	}
	node := state.Node{
		ID: req.NodeID, Hostname: req.Hostname, Addr: req.Addr, RaftAddr: req.RaftAddr, Role: out.Role,
		Capabilities: req.Capabilities, Capacity: req.Capacity, JoinedAt: time.Now().UTC(),
	}
	if _, err := c.Propose(ctx, state.RegisterNode{Node: node}); err != nil {
		return out, http.StatusServiceUnavailable, fmt.Errorf("record node: %w", err)
	}
	if err := c.AddNonvoter(ctx, req.NodeID, req.RaftAddr); err != nil {
		return out, http.StatusServiceUnavailable, err
	}
	out.ClusterID, out.CACert, out.Cert = cl.ID, pki.CertPEM(mat.CA), pki.CertPEM(cert)
	if out.Role == state.RoleManager {
		if out.CAKey, err = pki.KeyPEM(mat.CAKey); err != nil {
			return out, http.StatusInternalServerError, err
		}
	}
	return out, http.StatusOK, nil
}

func (c *Raft) certify(req JoinRequest, role string) (*x509.Certificate, error) {
	pub, err := x509.ParsePKIXPublicKey(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("join request public key: %w", err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("join request public key is not ECDSA")
	}
	ips := []net.IP{net.ParseIP(req.Addr)}
	if host, _, err := net.SplitHostPort(req.RaftAddr); err == nil && net.ParseIP(host) != nil {
		ips = append(ips, net.ParseIP(host))
	}
	mat := c.tlsMaterial()
	ca := pki.CA{Cert: mat.CA, Key: mat.CAKey}
	return ca.Sign(ec, pki.NodeRequest{NodeID: req.NodeID, Role: role, IPs: ips}, time.Now())
}
