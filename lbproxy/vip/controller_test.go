package vip

import (
	"reflect"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// The whole life of a client container: its namespace gets the VIPs of
// its networks when it starts, follows the backends as they change,
// loses the rules when it leaves the network, and is closed when it dies.
// webWithClient is a cluster with service web (VIP returned) running on
// n1 and n2, and the endpoint "cl" of a client on n1, whose container
// the engine has not started yet (the driver's CreateEndpoint comes
// first).
func webWithClient(t *testing.T) (*cluster, string) {
	t.Helper()
	c := newCluster(t)
	web := c.service(t, "s1", "web", "appnet")
	c.endpoint(t, "w1", "net", "n1", "10.1.0.11", state.EndpointStatus{Running: true, Service: "web"})
	c.endpoint(t, "w2", "net", "n2", "10.1.0.12", state.EndpointStatus{Running: true, Service: "web"})
	c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: "cl", NetworkID: "net", Node: "n1", IP: "10.1.0.20"}})
	return c, web.VIPs["net"]
}

func TestControllerFollowsContainersAndState(t *testing.T) {
	c, vip := webWithClient(t)
	e := newEngine()
	ops, _ := started(t, c, e, time.Hour)

	e.run("client", "cl")
	wantOp(t, ops, "/ns/client", "open")
	o := wantOp(t, ops, "/ns/client", "apply")
	if got := services(o.d); !reflect.DeepEqual(got[vip], addrs("10.1.0.11", "10.1.0.12")) || len(got) != 1 {
		t.Fatalf("first apply %v, want web's VIP %s to both tasks", got, vip)
	}

	// A backend goes unhealthy: applied at once, without it.
	c.status(t, "w2", state.EndpointStatus{Running: true, Health: state.HealthUnhealthy, Service: "web"})
	o = wantOp(t, ops, "/ns/client", "apply")
	if got := services(o.d)[vip]; !reflect.DeepEqual(got, addrs("10.1.0.11")) {
		t.Fatalf("after w2 went unhealthy: %v", got)
	}
	// A commit that changes no VIP or backend applies nothing; a new
	// service does.
	c.apply(t, state.ClaimBlock{NetworkID: "net", Node: "n1"})
	api := c.service(t, "s2", "api", "appnet")
	o = wantOp(t, ops, "/ns/client", "apply")
	if got := services(o.d); len(got) != 2 || len(got[api.VIPs["net"]]) != 0 {
		t.Fatalf("after api was created: %v", got)
	}

	// Another node's container and a container on no xoverlay network
	// get nothing.
	c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: "far", NetworkID: "net", Node: "n2", IP: "10.1.0.30"}})
	e.run("remote", "far")
	e.run("bridged", "bridge-ep")
	// Leaves the network: the rules go, the plane is closed.
	e.disconnect("client", "cl")
	wantOp(t, ops, "/ns/client", "remove")
	wantOp(t, ops, "/ns/client", "close")

	// Back on the network, then dies.
	e.run("client", "cl")
	wantOp(t, ops, "/ns/client", "open")
	wantOp(t, ops, "/ns/client", "apply")
	e.die("client")
	wantOp(t, ops, "/ns/client", "close")
	select {
	case o := <-ops:
		t.Fatalf("unexpected %s on %s", o.what, o.path)
	default:
	}
}

// A plane that cannot open (or apply) is retried every period; every
// plane is reconciled every period; containers whose start event was
// missed are found by the periodic list.
func TestControllerRetriesAndReconciles(t *testing.T) {
	c := newCluster(t)
	c.service(t, "s1", "web", "appnet")
	c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: "cl", NetworkID: "net", Node: "n1", IP: "10.1.0.20"}})
	c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: "cl2", NetworkID: "net", Node: "n1", IP: "10.1.0.21"}})
	e := newEngine()
	e.run("client", "cl")
	<-e.events // the controller starts after the event: it lists the engine
	ops, fail := func() (<-chan op, *failures) {
		return started(t, c, e, 50*time.Millisecond)
	}()
	wantOp(t, ops, "/ns/client", "open")
	wantOp(t, ops, "/ns/client", "apply")

	fail.mu.Lock()
	fail.open = 1
	fail.mu.Unlock()
	e.run("second", "cl2") // its open fails, then is retried
	wantOp(t, ops, "/ns/second", "open")
	wantOp(t, ops, "/ns/second", "apply")

	// Reconciles come every period.
	deadline := time.After(10 * time.Second)
	for seen := map[string]bool{}; !seen["/ns/client"] || !seen["/ns/second"]; {
		select {
		case o := <-ops:
			if o.what == "reconcile" {
				seen[o.path] = true
			}
		case <-deadline:
			t.Fatal("no reconcile of every plane")
		}
	}
}
