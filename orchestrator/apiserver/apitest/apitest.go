// Package apitest builds a small replicated state through the FSM and
// serves it on a unix socket, for tests of the API server, the client and
// the CLI.
package apitest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// IDs of the sample cluster. WebID and DBID share the prefix "3f".
const (
	WebID     = "3f9a1c0e7b2d4a5f8c6e1d0b9a8f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5"
	DBID      = "3fb2d4e6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1"
	PendingID = "7c1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e5a9b3d7f1e"

	AlphaNode = "zz-node"  // hostname alpha: sorts first by hostname, last by ID
	BravoNode = "aa-node"  // hostname bravo
	GhostNode = "mm-ghost" // never registered: shown by its ID
	IdleNode  = "cc-idle"  // hostname charlie, on no network
)

// Created is the creation time of every sample network.
var Created = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Apply runs commands through the FSM, failing the test on any error.
func Apply(t testing.TB, s *state.Store, cmds ...state.Command) {
	t.Helper()
	fsm := state.NewFSM(s)
	for _, c := range cmds {
		b, err := state.Encode(c)
		if err != nil {
			t.Fatalf("encode %T: %v", c, err)
		}
		if _, err := fsm.ApplyBytes(b); err != nil {
			t.Fatalf("apply %T %+v: %v", c, c, err)
		}
	}
}

// Store returns the sample cluster:
//
//   - web (WebID, 10.10.0.0/24, gw 10.10.0.1, VNI 4096) on alpha (blocks
//     10.10.0.16/28 and 10.10.0.32/28, endpoint 10.10.0.18) and bravo
//     (block 10.10.0.0/28, endpoints 10.10.0.9 and 10.10.0.10);
//   - db (DBID, 10.20.0.0/24, VNI 4097) on the unregistered GhostNode
//     (endpoint 10.20.0.5);
//   - a pending, unnamed network (PendingID, 10.30.0.0/24).
func Store(t testing.TB) *state.Store {
	t.Helper()
	s := state.NewStore()
	node := func(id, host string) state.Command {
		return state.RegisterNode{Node: state.Node{ID: id, Hostname: host, Role: "manager", JoinedAt: Created}}
	}
	ep := func(id, network, node, ip, mac, container string) state.Command {
		return state.CreateEndpoint{Endpoint: state.Endpoint{
			ID: id, NetworkID: network, Node: node, IP: ip, MAC: mac,
			HostIface: "xo" + id[:6], ContainerID: "c0" + id, Container: container, CreatedAt: Created,
		}}
	}
	Apply(t, s,
		node(AlphaNode, "alpha"), node(BravoNode, "bravo"), node(IdleNode, "charlie"),
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
		NodeID: AlphaNode, Hostname: "alpha", Role: "manager", Leader: true,
		StateDir: "/var/lib/xo", PluginSocket: "/run/docker/plugins/xoverlay.sock",
		APISocket: api.DefaultSocket, MetricsAddr: "127.0.0.1:9323",
		DNSAddress: "169.254.53.53", DataPlane: "vxlan", Version: "test",
	}
}

// Serve serves r on a unix socket in a temporary directory until the test
// ends, and returns the socket path.
func Serve(t testing.TB, r apiserver.Reader, info apiserver.InfoFunc) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "xo.sock")
	l, err := apiserver.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := apiserver.New(r, info, nil, nil)
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
