package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/pki"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// testNode is one in-process cluster member on a loopback port.
type testNode struct {
	id    string
	addr  string
	store *state.Store
	raft  *Raft
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startMember(t *testing.T, id, addr string, mat pki.Material, bootstrap bool, dp ...Dataplane) *testNode {
	t.Helper()
	var plane Dataplane
	if len(dp) > 0 {
		plane = dp[0]
	}
	n, err := Listen(addr, addr, mat, nil)
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewStore()
	r, err := Open(Config{
		Dir: t.TempDir(), NodeID: id, Store: store, Net: n, TLS: mat, Bootstrap: bootstrap, Dataplane: plane,
		HeartbeatEvery: 100 * time.Millisecond, SuspectAfter: 400 * time.Millisecond, DownAfter: time.Second,
		CommitTimeout: testCommitTimeout,
	}, state.NewFSM(store))
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{id: id, addr: addr, store: store, raft: r}
	t.Cleanup(func() { _ = r.Close() })
	return tn
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// initCluster starts the first member and records the cluster identity.
func initCluster(t *testing.T) (*testNode, pki.CA, string, string) {
	t.Helper()
	ca, err := pki.NewCA("c1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	key, _ := pki.NewKey()
	cert, _ := ca.Sign(&key.PublicKey, pki.NodeRequest{NodeID: "n1", Role: "manager", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, time.Now())
	n1 := startMember(t, "n1", addr, pki.Material{CA: ca.Cert, CAKey: ca.Key, Cert: cert, Key: key}, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n1.raft.WaitApplied(ctx); err != nil {
		t.Fatal(err)
	}
	mgr, wrk := pki.NewSecret(), pki.NewSecret()
	for _, c := range []state.Command{
		state.RegisterNode{Node: state.Node{ID: "n1", Hostname: "h1", Addr: "127.0.0.1", RaftAddr: addr, Role: state.RoleManager}},
		state.SetCluster{Cluster: state.Cluster{ID: "c1", CADigest: pki.Digest(ca.Cert), ManagerSecret: pki.HashSecret(mgr), WorkerSecret: pki.HashSecret(wrk)}},
	} {
		if _, err := n1.raft.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return n1, ca, pki.FormatToken(pki.Digest(ca.Cert), mgr), pki.FormatToken(pki.Digest(ca.Cert), wrk)
}

// join runs the joiner's side: key, join RPC, then its own member.
func join(t *testing.T, via *testNode, id, token string, dp ...Dataplane) (*testNode, error) {
	t.Helper()
	key, _ := pki.NewKey()
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := Join(ctx, via.addr, JoinRequest{Token: token, NodeID: id, Hostname: "host-" + id, Addr: "127.0.0.1", RaftAddr: addr, PublicKey: pub})
	if err != nil {
		return nil, err
	}
	mat := pki.Material{Key: key}
	mat.CA, _ = pki.ParseCert(resp.CACert)
	mat.Cert, _ = pki.ParseCert(resp.Cert)
	if resp.CAKey != nil {
		mat.CAKey, _ = pki.ParseKey(resp.CAKey)
	}
	return startMember(t, id, addr, mat, false, dp...), nil
}

func TestJoinForwardAndSuffrage(t *testing.T) {
	n1, _, mgrToken, wrkToken := initCluster(t)
	n2, err := join(t, n1, "n2", mgrToken)
	if err != nil {
		t.Fatal(err)
	}
	n3, err := join(t, n2, "n3", wrkToken) // through a manager that is not the leader
	if err != nil {
		t.Fatal(err)
	}
	// Every member gets the whole state, including what came before it.
	eventually(t, 10*time.Second, func() error {
		for _, n := range []*testNode{n1, n2, n3} {
			if nodes, _, _ := n.store.Counts(); nodes != 3 {
				return fmt.Errorf("%s sees %d nodes", n.id, nodes)
			}
		}
		return nil
	})
	// A write from the worker goes through the leader and returns the FSM's value.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := n3.raft.Propose(ctx, state.CreateNetwork{ID: "net", Subnet: "10.1.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if nw, ok := v.(*state.Network); !ok || nw.Subnet != "10.1.0.0/24" {
		t.Fatalf("forwarded result %#v", v)
	}
	n3.store.View(func(tx state.ReadTx) { // read your writes on the forwarding node
		if tx.Network("net") == nil {
			t.Fatal("the worker's replica lacks its own acknowledged write")
		}
	})
	// FSM rejections keep their class across the wire.
	if _, err := n3.raft.Propose(ctx, state.CreateNetwork{ID: "x", Subnet: "10.1.0.0/16"}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("forwarded rejection: %v", err)
	}
	// The manager becomes a voter once it heartbeats; the worker never does.
	eventually(t, 10*time.Second, func() error {
		ms, err := n1.raft.Members()
		if err != nil {
			return err
		}
		voters := map[string]bool{}
		for _, m := range ms {
			voters[m.ID] = m.Voter
		}
		if !voters["n1"] || !voters["n2"] || voters["n3"] || len(ms) != 3 {
			return fmt.Errorf("members %+v", ms)
		}
		return nil
	})
	if _, err := join(t, n1, "n4", strings.Replace(wrkToken, wrkToken[len(wrkToken)-5:], "aaaaa", 1)); err == nil || !strings.Contains(err.Error(), "invalid join token") {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestLeaderKilledUnderWrites(t *testing.T) {
	n1, _, mgrToken, _ := initCluster(t)
	n2, err := join(t, n1, "n2", mgrToken)
	if err != nil {
		t.Fatal(err)
	}
	n3, err := join(t, n1, "n3", mgrToken)
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*testNode{n1, n2, n3}
	eventually(t, 15*time.Second, func() error {
		ms, _ := n1.raft.Members()
		voters := 0
		for _, m := range ms {
			if m.Voter {
				voters++
			}
		}
		if voters != 3 {
			return fmt.Errorf("%d voters", voters)
		}
		return nil
	})
	leader := func(among []*testNode) *testNode {
		for _, n := range among {
			if n.raft.IsLeader() {
				return n
			}
		}
		return nil
	}
	old := leader(nodes)
	var writer *testNode
	var survivors []*testNode
	for _, n := range nodes {
		if n != old {
			survivors = append(survivors, n)
			writer = n
		}
	}
	var mu sync.Mutex
	var acked []string
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	done := make(chan error, 1)
	go func() {
		for i := range 60 {
			id := fmt.Sprintf("net%02d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_, err := writer.raft.Propose(ctx, state.CreateNetwork{ID: id, Subnet: fmt.Sprintf("10.%d.0.0/24", i)})
			cancel()
			if err != nil {
				done <- fmt.Errorf("write %s: %w", id, err)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		}
		done <- nil
	}()
	eventually(t, 10*time.Second, func() error {
		if n := count(); n < 20 {
			return fmt.Errorf("%d writes so far", n)
		}
		return nil
	})
	killed := time.Now()
	_ = old.raft.Close()
	eventually(t, 10*time.Second, func() error {
		if leader(survivors) == nil {
			return errors.New("no new leader")
		}
		return nil
	})
	t.Logf("new leader after %s", time.Since(killed).Round(time.Millisecond))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Followers apply what the leader acknowledged once they learn the
	// commit index: every acknowledged write must show up on both.
	for _, n := range survivors {
		eventually(t, 5*time.Second, func() error {
			var missing []string
			n.store.View(func(tx state.ReadTx) {
				for _, id := range acked {
					if tx.Network(id) == nil {
						missing = append(missing, id)
					}
				}
			})
			if len(missing) > 0 {
				return fmt.Errorf("%s lacks acknowledged writes %v", n.id, missing)
			}
			return nil
		})
	}
}
