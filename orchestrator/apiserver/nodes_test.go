package apiserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// opsClient serves the sample cluster with a fake Ops.
func opsClient(t *testing.T) (*api.Client, *apitest.Ops) {
	t.Helper()
	s := apitest.Store(t)
	ops := apitest.NewOps(s)
	return api.NewClient(apitest.ServeOps(t, s, apitest.Info, ops)), ops
}

func TestListNodes(t *testing.T) {
	c, _ := opsClient(t)
	nodes, err := c.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 {
		t.Fatalf("nodes = %+v", nodes)
	}
	alpha, bravo, charlie := nodes[0], nodes[1], nodes[2]
	if alpha.ID != apitest.AlphaNode || alpha.Hostname != "alpha" || alpha.Role != "manager" ||
		alpha.ManagerStatus != api.ManagerLeader || !alpha.Self || alpha.Status != "ready" ||
		alpha.Availability != "active" || alpha.Labels["zone"] != "a" || alpha.Addr != "10.0.0.1" ||
		alpha.RaftAddr != "10.0.0.1:2378" || !alpha.JoinedAt.Equal(apitest.Created) {
		t.Errorf("alpha = %+v", alpha)
	}
	if want := (api.NodeCapabilities{Kernel: "6.8.0", Engine: "27.3.1", IPVS: true, NFTables: true}); alpha.Capabilities != want {
		t.Errorf("alpha capabilities = %+v", alpha.Capabilities)
	}
	if bravo.ID != apitest.BravoNode || bravo.ManagerStatus != api.ManagerUnreachable || bravo.Self ||
		bravo.Status != "down" || bravo.StatusMsg != "no heartbeat for 30s" || !bravo.StatusAt.Equal(apitest.Created.Add(time.Hour)) {
		t.Errorf("bravo = %+v", bravo)
	}
	if charlie.ID != apitest.IdleNode || charlie.Role != "worker" || charlie.ManagerStatus != "" ||
		charlie.Availability != "drain" || charlie.Labels == nil || len(charlie.Labels) != 0 {
		t.Errorf("charlie = %+v", charlie)
	}
}

func TestManagerStatusWithoutOps(t *testing.T) {
	nodes, err := sampleClient(t).Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].ManagerStatus != api.ManagerReachable || nodes[1].ManagerStatus != api.ManagerUnreachable {
		t.Errorf("no leader known: %q, %q", nodes[0].ManagerStatus, nodes[1].ManagerStatus)
	}
}

func TestNodeRefs(t *testing.T) {
	s := apitest.Store(t)
	apitest.Apply(t, s,
		state.RegisterNode{Node: state.Node{ID: "ab12", Hostname: "twin", Role: "worker"}},
		state.RegisterNode{Node: state.Node{ID: "ab34", Hostname: "twin", Role: "worker"}},
	)
	c := api.NewClient(apitest.Serve(t, s, apitest.Info))
	ctx := context.Background()
	for ref, want := range map[string]string{
		apitest.AlphaNode: apitest.AlphaNode,
		"alpha":           apitest.AlphaNode,
		"zz":              apitest.AlphaNode,
		"charlie":         apitest.IdleNode,
		"cc-i":            apitest.IdleNode,
		"ab12":            "ab12",
	} {
		n, err := c.Node(ctx, ref)
		if err != nil || n.ID != want {
			t.Errorf("Node(%q) = %s, %v; want %s", ref, n.ID, err, want)
		}
	}
	for ref, want := range map[string]string{
		"twin": `node name "twin" is ambiguous: it names ab12 (twin), ab34 (twin); use an ID`,
		"ab":   `node ID prefix "ab" is ambiguous: it matches ab12 (twin), ab34 (twin); use a longer prefix`,
	} {
		_, err := c.Node(ctx, ref)
		if !errors.Is(err, api.ErrInvalid) || err.Error() != want {
			t.Errorf("Node(%q): %v\nwant %s", ref, err, want)
		}
	}
	_, err := c.Node(ctx, "nope")
	if !errors.Is(err, api.ErrNotFound) || err.Error() != `node "nope" not found` {
		t.Errorf("missing node: %v", err)
	}
}

func TestNodeWrites(t *testing.T) {
	c, ops := opsClient(t)
	ctx := context.Background()
	if err := c.NodeUpdate(ctx, "charlie", api.NodeUpdateRequest{
		LabelsAdd: map[string]string{"gpu": "yes"}, Availability: "active",
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.NodeUpdate(ctx, "alpha", api.NodeUpdateRequest{LabelsRm: []string{"zone"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.NodePromote(ctx, "charlie"); err != nil {
		t.Fatal(err)
	}
	if err := c.NodeDemote(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	err := c.NodeRemove(ctx, "charlie", false)
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "use --force") {
		t.Errorf("remove a ready node: %v", err)
	}
	if err := c.NodeRemove(ctx, "bravo", false); err != nil {
		t.Fatal(err)
	}
	if err := c.NodeRemove(ctx, "charlie", true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"NodeUpdate cc-idle {LabelsAdd:map[gpu:yes] LabelsRm:[] Availability:active}",
		"NodeUpdate zz-node {LabelsAdd:map[] LabelsRm:[zone] Availability:}",
		"NodeSetRole cc-idle manager",
		"NodeSetRole zz-node worker",
		"NodeRemove cc-idle false",
		"NodeRemove aa-node false",
		"NodeRemove cc-idle true",
	}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Role != "worker" || len(nodes[0].Labels) != 0 || nodes[0].ManagerStatus != "" {
		t.Errorf("after the writes: %+v", nodes)
	}
}

func TestClusterRoutes(t *testing.T) {
	c, ops := opsClient(t)
	ctx := context.Background()
	ci, err := c.ClusterInit(ctx, api.ClusterInitRequest{AdvertiseAddr: "10.0.0.1"})
	want := api.ClusterInfo{ClusterID: apitest.ClusterID, NodeID: apitest.AlphaNode, Role: "manager",
		RemoteAddr: apitest.RemoteAddr, WorkerToken: apitest.WorkerToken, ManagerToken: apitest.ManagerToken}
	if err != nil || ci != want {
		t.Errorf("init = %+v, %v", ci, err)
	}
	ci, err = c.ClusterJoin(ctx, api.ClusterJoinRequest{Token: apitest.WorkerToken, RemoteAddr: "10.0.0.1:2378"})
	if err != nil || ci.Role != "worker" || ci.WorkerToken != "" {
		t.Errorf("join as worker = %+v, %v", ci, err)
	}
	_, err = c.ClusterJoin(ctx, api.ClusterJoinRequest{Token: "bogus", RemoteAddr: "10.0.0.1:2378"})
	if !errors.Is(err, api.ErrInvalid) || err.Error() != "invalid join token" {
		t.Errorf("join with a bad token: %v", err)
	}
	tok, err := c.ClusterToken(ctx, "manager", false)
	if err != nil || tok != apitest.ManagerToken {
		t.Errorf("manager token = %q, %v", tok, err)
	}
	tok, err = c.ClusterToken(ctx, "worker", true)
	if err != nil || tok != "XOTKN-2-worker" {
		t.Errorf("rotated worker token = %q, %v", tok, err)
	}
	if _, err := c.ClusterToken(ctx, "admin", false); err == nil {
		t.Error("token of an unknown role: no error")
	}
	wantCalls := []string{
		"ClusterInit {AdvertiseAddr:10.0.0.1}",
		"ClusterJoin {Token:XOTKN-1-worker RemoteAddr:10.0.0.1:2378 AdvertiseAddr:}",
		"ClusterJoin {Token:bogus RemoteAddr:10.0.0.1:2378 AdvertiseAddr:}",
		"ClusterToken manager false",
		"ClusterToken worker true",
	}
	if got := ops.Calls(); strings.Join(got, "\n") != strings.Join(wantCalls, "\n") {
		t.Errorf("calls:\n%s", strings.Join(got, "\n"))
	}
}

func TestRetryWhileUnavailable(t *testing.T) {
	c, ops := opsClient(t)
	ops.Fail("NodeSetRole", apitest.Unavailable(), apitest.Unavailable())
	start := time.Now()
	if err := c.NodePromote(context.Background(), "charlie"); err != nil {
		t.Fatalf("promote after two 503s: %v", err)
	}
	if n := len(ops.Calls()); n != 3 {
		t.Errorf("%d calls, want 3: %v", n, ops.Calls())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("retries took %s", took)
	}
	// Other errors are not retried.
	ops.Fail("NodeSetRole", errors.New("disk on fire"))
	err := c.NodeDemote(context.Background(), "alpha")
	if err == nil || err.Error() != "disk on fire" || len(ops.Calls()) != 4 {
		t.Errorf("500: %v after %d calls", err, len(ops.Calls()))
	}
	// A canceled context stops the retries.
	ops.Fail("NodeSetRole", apitest.Unavailable(), apitest.Unavailable(), apitest.Unavailable())
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err = c.NodeDemote(ctx, "alpha")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no cluster leader yet") {
		t.Errorf("canceled retry: %v", err)
	}
}
