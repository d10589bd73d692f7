// Package apitest builds a small replicated state through the FSM and
// serves it on a unix socket, for tests of the API server, the client and
// the CLI.
package apitest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// IDs of the sample cluster. WebID and DBID share the prefix "3f".
const (
	ClusterID = "c1u57e4b0a5e"

	WebID     = "3f9a1c0e7b2d4a5f8c6e1d0b9a8f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5"
	DBID      = "3fb2d4e6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1"
	PendingID = "7c1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e"

	AlphaNode = "zz-node"  // hostname alpha: sorts first by hostname, last by ID
	BravoNode = "aa-node"  // hostname bravo
	GhostNode = "mm-ghost" // never registered: shown by its ID
	IdleNode  = "cc-idle"  // hostname charlie, on no network
)

// WebError is the error charlie's engine reports for network web.
const WebError = `plugin "xoverlay" not found`

// Created is the creation time of every sample network.
var Created = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Apply runs commands through the FSM, failing the test on any error.
func Apply(t testing.TB, s *state.Store, cmds ...state.Command) {
	t.Helper()
	for _, c := range cmds {
		if err := apply(s, c); err != nil {
			t.Fatalf("apply %T %+v: %v", c, c, err)
		}
	}
}

// apply runs commands through the FSM and returns the first error as the
// FSM reports it.
func apply(s *state.Store, cmds ...state.Command) error {
	fsm := state.NewFSM(s)
	for _, c := range cmds {
		b, err := state.Encode(c)
		if err != nil {
			return fmt.Errorf("encode %T: %w", c, err)
		}
		if _, err := fsm.ApplyBytes(b); err != nil {
			return err
		}
	}
	return nil
}

// Store returns the sample cluster ClusterID:
//
//   - nodes alpha (AlphaNode, manager, the leader of Ops, engine 27.3.1,
//     label zone=a), bravo (BravoNode, manager, down) and charlie
//     (IdleNode, worker, drained, engine 26.1.4);
//   - web (WebID, 10.10.0.0/24, gw 10.10.0.1, VNI 4096) on alpha (blocks
//     10.10.0.16/28 and 10.10.0.32/28, endpoint 10.10.0.18) and bravo
//     (block 10.10.0.0/28, endpoints 10.10.0.9 and 10.10.0.10);
//   - db (DBID, 10.20.0.0/24, VNI 4097) on the unregistered GhostNode
//     (endpoint 10.20.0.5);
//   - a pending, unnamed network (PendingID, 10.30.0.0/24).
//
// Charlie's engine failed to create web (WebError).
func Store(t testing.TB) *state.Store {
	t.Helper()
	s := state.NewStore()
	node := func(id, host, role, ip, engine string) state.Command {
		return state.RegisterNode{Node: state.Node{
			ID: id, Hostname: host, Role: role, Addr: ip, RaftAddr: ip + ":2378", JoinedAt: Created,
			Capabilities: state.Capabilities{Kernel: "6.8.0", Engine: engine, IPVS: true, NFTables: role == "manager"},
		}}
	}
	ep := func(id, network, node, ip, mac, container string) state.Command {
		return state.CreateEndpoint{Endpoint: state.Endpoint{
			ID: id, NetworkID: network, Node: node, IP: ip, MAC: mac,
			HostIface: "xo" + id[:6], ContainerID: "c0" + id, Container: container, CreatedAt: Created,
		}}
	}
	Apply(t, s,
		state.SetCluster{Cluster: state.Cluster{ID: ClusterID, CreatedAt: Created}},
		node(AlphaNode, "alpha", "manager", "10.0.0.1", "27.3.1"),
		node(BravoNode, "bravo", "manager", "10.0.0.2", "27.3.1"),
		node(IdleNode, "charlie", "worker", "10.0.0.3", "26.1.4"),
		state.UpdateNode{ID: AlphaNode, LabelsAdd: map[string]string{"zone": "a"}},
		state.UpdateNode{ID: IdleNode, Availability: "drain"},
		state.SetNodeStatus{ID: BravoNode, Status: "down", Msg: "no heartbeat for 30s", At: Created.Add(time.Hour)},
		state.CreateNetwork{ID: WebID, Subnet: "10.10.0.0/24", CreatedAt: Created},
		state.SetGateway{NetworkID: WebID},
		state.AttachEngine{NetworkID: WebID, Node: AlphaNode, EngineID: "e1a1e1a1e1a1e1a1", MTU: 1450,
			Options: map[string]string{"xoverlay.mtu": "1450"}},
		state.AttachEngine{NetworkID: WebID, Node: BravoNode, EngineID: "e2b2e2b2e2b2e2b2"},
		state.RenameNetwork{NetworkID: WebID, Name: "web"},
		state.ClaimBlock{NetworkID: WebID, Node: BravoNode},
		state.ClaimBlock{NetworkID: WebID, Node: AlphaNode},
		state.ClaimBlock{NetworkID: WebID, Node: AlphaNode},
		ep("ep0001bbbb", WebID, BravoNode, "10.10.0.10", "02:42:0a:0a:00:0a", "web-3"),
		ep("ep0002bbbb", WebID, BravoNode, "10.10.0.9", "02:42:0a:0a:00:09", "web-2"),
		ep("ep0003aaaa", WebID, AlphaNode, "10.10.0.18", "02:42:0a:0a:00:12", "web-1"),
		state.SetNetworkError{NetworkID: WebID, Node: IdleNode, Error: WebError},

		state.CreateNetwork{ID: DBID, Subnet: "10.20.0.0/24", CreatedAt: Created},
		state.SetGateway{NetworkID: DBID},
		state.AttachEngine{NetworkID: DBID, Node: GhostNode, EngineID: "e3c3e3c3e3c3e3c3", MTU: 1450},
		state.RenameNetwork{NetworkID: DBID, Name: "db"},
		ep("ep0004cccc", DBID, GhostNode, "10.20.0.5", "02:42:0a:14:00:05", "postgres"),

		state.CreateNetwork{ID: PendingID, Subnet: "10.30.0.0/24", CreatedAt: Created},
	)
	return s
}

// Info is the agent description the sample server reports.
func Info() api.Info {
	return api.Info{
		NodeID: AlphaNode, Hostname: "alpha", Role: "manager", Leader: true, RaftAddr: "10.0.0.1:2378",
		StateDir: "/var/lib/xo", PluginSocket: "/run/docker/plugins/xoverlay.sock",
		APISocket: api.DefaultSocket, MetricsAddr: "127.0.0.1:9323",
		DNSAddress: "169.254.53.53", DataPlane: "vxlan", Version: "test",
	}
}

// Serve serves r, without Ops, on a unix socket in a temporary directory
// until the test ends, and returns the socket path.
func Serve(t testing.TB, r apiserver.Reader, info apiserver.InfoFunc) string {
	t.Helper()
	return ServeOps(t, r, info, nil)
}

// ServeOps is Serve with ops (which may be nil).
func ServeOps(t testing.TB, r apiserver.Reader, info apiserver.InfoFunc, ops apiserver.Ops) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "xo.sock")
	l, err := apiserver.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := apiserver.New(r, info, ops, nil, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return socket
}
