package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/cluster"
	"github.com/xoverlay/xoverlay/orchestrator/pki"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// advertise picks and checks the address other hosts reach this one at.
func (o *ops) advertise(asked string) (ip, raftAddr string, err error) {
	ip = asked
	if ip == "" {
		ip = o.a.cfg.AdvertiseAddr
	}
	if net.ParseIP(ip) == nil {
		return "", "", fmt.Errorf("%w: --advertise-addr is required: the IP address other hosts reach this one at (got %q)", state.ErrInvalid, ip)
	}
	_, port, err := net.SplitHostPort(o.a.cfg.ListenAddr)
	if err != nil {
		return "", "", fmt.Errorf("%w: --listen-addr %q: %w", state.ErrInvalid, o.a.cfg.ListenAddr, err)
	}
	return ip, net.JoinHostPort(ip, port), nil
}

func (o *ops) notInCluster() error {
	if cf, _, err := o.a.loadCluster(); err != nil {
		return err
	} else if cf != nil {
		return fmt.Errorf("%w: this node is already part of cluster %s", state.ErrConflict, cf.ClusterID)
	}
	return nil
}

// ClusterInit turns the embedded single-node cluster into the first member
// of a multi-node one, keeping its state.
func (o *ops) ClusterInit(ctx context.Context, req api.ClusterInitRequest) (api.ClusterInfo, error) {
	var info api.ClusterInfo
	if err := o.notInCluster(); err != nil {
		return info, err
	}
	ip, raftAddr, err := o.advertise(req.AdvertiseAddr)
	if err != nil {
		return info, err
	}
	clusterID := randomID()
	now := time.Now().UTC()
	ca, err := pki.NewCA(clusterID, now)
	if err != nil {
		return info, err
	}
	mat, err := issue(ca, o.id, state.RoleManager, ip, now)
	if err != nil {
		return info, err
	}
	mat.CAKey = ca.Key
	n, err := cluster.Listen(o.a.cfg.ListenAddr, raftAddr, mat, o.log)
	if err != nil {
		return info, fmt.Errorf("%w: %w", state.ErrInvalid, err)
	}
	tokens, cl, err := newTokens(ca, clusterID, now)
	if err != nil {
		_ = n.Close()
		return info, err
	}
	for _, cmd := range []state.Command{
		state.SetCluster{Cluster: cl},
		state.RegisterNode{Node: state.Node{ID: o.id, Hostname: o.a.cfg.Hostname, Addr: ip, RaftAddr: raftAddr,
			Role: state.RoleManager, Capabilities: o.capabilities(ctx), Capacity: probeCapacity(), JoinedAt: now}},
	} {
		if _, err := o.rep.Propose(ctx, cmd); err != nil {
			_ = n.Close()
			return info, err
		}
	}
	if err := o.a.saveCluster(clusterFile{ClusterID: clusterID, RaftAddr: raftAddr, Addr: ip}, mat); err != nil {
		_ = n.Close()
		return info, err
	}
	err = o.rep.swap(func(old *cluster.Raft) (*cluster.Raft, error) {
		if err := old.Snapshot(); err != nil {
			return nil, err
		}
		if err := old.Close(); err != nil {
			return nil, err
		}
		if err := cluster.Readdress(o.a.raftDir(), o.id, raftAddr); err != nil {
			return nil, err
		}
		return o.a.openRaft(ctx, o.id, o.rep.Store, n, mat, false)
	})
	if err != nil {
		return info, fmt.Errorf("agent: cluster init: %w (restart the agent to retry)", err)
	}
	o.log.Info("cluster initialized", "cluster", clusterID, "addr", raftAddr)
	return api.ClusterInfo{ClusterID: clusterID, NodeID: o.id, Role: state.RoleManager, RemoteAddr: raftAddr,
		WorkerToken: tokens[state.RoleWorker], ManagerToken: tokens[state.RoleManager]}, nil
}

// ClusterJoin makes this fresh node a member of an existing cluster.
func (o *ops) ClusterJoin(ctx context.Context, req api.ClusterJoinRequest) (api.ClusterInfo, error) {
	var info api.ClusterInfo
	if err := o.notInCluster(); err != nil {
		return info, err
	}
	var nets int
	o.rep.View(func(tx state.ReadTx) { nets = len(tx.Networks()) })
	if nets > 0 {
		return info, fmt.Errorf("%w: this node has %d network(s) of its own; a joining node must have none: remove them (docker network rm) first", state.ErrConflict, nets)
	}
	ip, raftAddr, err := o.advertise(req.AdvertiseAddr)
	if err != nil {
		return info, err
	}
	key, err := pki.NewKey()
	if err != nil {
		return info, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	resp, err := cluster.Join(ctx, req.RemoteAddr, cluster.JoinRequest{
		Token: req.Token, NodeID: o.id, Hostname: o.a.cfg.Hostname, Addr: ip, RaftAddr: raftAddr,
		PublicKey: pub, Capabilities: o.capabilities(ctx), Capacity: probeCapacity(),
	})
	if err != nil {
		return info, fmt.Errorf("%w: %w", state.ErrInvalid, err)
	}
	mat, err := materialFrom(resp, key)
	if err != nil {
		return info, err
	}
	n, err := cluster.Listen(o.a.cfg.ListenAddr, raftAddr, mat, o.log)
	if err != nil {
		return info, fmt.Errorf("%w: %w", state.ErrInvalid, err)
	}
	if err := o.a.saveCluster(clusterFile{ClusterID: resp.ClusterID, RaftAddr: raftAddr, Addr: ip}, mat); err != nil {
		_ = n.Close()
		return info, err
	}
	err = o.rep.swap(func(old *cluster.Raft) (*cluster.Raft, error) {
		if err := old.Close(); err != nil {
			return nil, err
		}
		if err := os.RemoveAll(o.a.raftDir()); err != nil {
			return nil, fmt.Errorf("agent: clear single-node raft state: %w", err)
		}
		o.rep.Reset()
		return o.a.openRaft(ctx, o.id, o.rep.Store, n, mat, false)
	})
	if err != nil {
		return info, fmt.Errorf("agent: cluster join: %w (restart the agent to retry)", err)
	}
	o.log.Info("joined cluster", "cluster", resp.ClusterID, "role", resp.Role, "via", req.RemoteAddr)
	return api.ClusterInfo{ClusterID: resp.ClusterID, NodeID: o.id, Role: resp.Role, RemoteAddr: req.RemoteAddr}, nil
}

// ClusterToken prints (and optionally rotates) a join token.
func (o *ops) ClusterToken(ctx context.Context, role string, rotate bool) (string, error) {
	cf, mat, err := o.a.loadCluster()
	if err != nil {
		return "", err
	}
	if cf == nil {
		return "", fmt.Errorf("%w: this node is not in a multi-node cluster; run 'xo cluster init' first", state.ErrInvalid)
	}
	if mat.CAKey == nil {
		return "", fmt.Errorf("%w: only managers can show join tokens; run this on a manager", state.ErrInvalid)
	}
	var cl state.Cluster
	o.rep.View(func(tx state.ReadTx) {
		if c := tx.Cluster(); c != nil {
			cl = *c
		}
	})
	if rotate {
		secret := pki.NewSecret()
		sealed, err := pki.SealSecret(mat.CAKey, secret)
		if err != nil {
			return "", err
		}
		if role == state.RoleManager {
			cl.ManagerSecret, cl.ManagerSealed = pki.HashSecret(secret), sealed
		} else {
			cl.WorkerSecret, cl.WorkerSealed = pki.HashSecret(secret), sealed
		}
		cl.TokensRotateAt = time.Now().UTC()
		if _, err := o.rep.Propose(ctx, state.SetCluster{Cluster: cl}); err != nil {
			return "", err
		}
	}
	sealed := cl.WorkerSealed
	if role == state.RoleManager {
		sealed = cl.ManagerSealed
	}
	secret, err := pki.OpenSecret(mat.CAKey, sealed)
	if err != nil {
		return "", err
	}
	return pki.FormatToken(cl.CADigest, secret), nil
}

// newTokens makes both secrets and the cluster record that holds them.
func newTokens(ca pki.CA, clusterID string, now time.Time) (map[string]string, state.Cluster, error) {
	cl := state.Cluster{ID: clusterID, CACert: string(pki.CertPEM(ca.Cert)), CADigest: pki.Digest(ca.Cert), CreatedAt: now}
	tokens := map[string]string{}
	for _, role := range []string{state.RoleManager, state.RoleWorker} {
		secret := pki.NewSecret()
		sealed, err := pki.SealSecret(ca.Key, secret)
		if err != nil {
			return nil, cl, err
		}
		if role == state.RoleManager {
			cl.ManagerSecret, cl.ManagerSealed = pki.HashSecret(secret), sealed
		} else {
			cl.WorkerSecret, cl.WorkerSealed = pki.HashSecret(secret), sealed
		}
		tokens[role] = pki.FormatToken(cl.CADigest, secret)
	}
	return tokens, cl, nil
}

func issue(ca pki.CA, id, role, ip string, now time.Time) (pki.Material, error) {
	key, err := pki.NewKey()
	if err != nil {
		return pki.Material{}, err
	}
	cert, err := ca.Sign(&key.PublicKey, pki.NodeRequest{NodeID: id, Role: role, IPs: []net.IP{net.ParseIP(ip)}}, now)
	if err != nil {
		return pki.Material{}, err
	}
	return pki.Material{CA: ca.Cert, Cert: cert, Key: key}, nil
}

func materialFrom(resp cluster.JoinResponse, key *ecdsa.PrivateKey) (pki.Material, error) {
	mat := pki.Material{Key: key}
	var err error
	if mat.CA, err = pki.ParseCert(resp.CACert); err != nil {
		return mat, err
	}
	if mat.Cert, err = pki.ParseCert(resp.Cert); err != nil {
		return mat, err
	}
	if resp.CAKey != nil {
		if mat.CAKey, err = pki.ParseKey(resp.CAKey); err != nil {
			return mat, err
		}
	}
	return mat, nil
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (o *ops) capabilities(ctx context.Context) state.Capabilities {
	c := probeCapabilities()
	c.Engine = engineVersion(ctx, o.docker)
	c.DataPlane = o.a.dataPlane
	return c
}
