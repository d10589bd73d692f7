package vip

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/xoverlay/xoverlay/lbproxy/l4"
	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// patchPlane is a plane that takes changes (like nft.Plane): it keeps
// what it was given and logs its whole state after each call.
type patchPlane struct {
	*plane
	cur map[l4.Key]l4.Service
}

func (p *patchPlane) Apply(_ context.Context, d l4.Desired) error {
	p.cur = map[l4.Key]l4.Service{}
	for _, s := range d.Services {
		p.cur[l4.Key{VIP: s.VIP, Proto: s.Proto, Port: s.Port}] = s
	}
	p.log <- op{p.path, "apply", p.state()}
	return nil
}

func (p *patchPlane) Patch(_ context.Context, upsert []l4.Service, remove []l4.Key) error {
	if p.cur == nil {
		return errors.New("patch before apply")
	}
	for _, k := range remove {
		delete(p.cur, k)
	}
	for _, s := range upsert {
		p.cur[l4.Key{VIP: s.VIP, Proto: s.Proto, Port: s.Port}] = s
	}
	p.log <- op{p.path, "patch", p.state()}
	return nil
}

func (p *patchPlane) state() l4.Desired {
	var d l4.Desired
	for _, s := range p.cur {
		d.Services = append(d.Services, s)
	}
	slices.SortFunc(d.Services, func(a, b l4.Service) int { return a.VIP.Compare(b.VIP) })
	return d
}

// A plane that takes changes gets each burst's changes only, and ends
// with what a whole apply would give it.
func TestControllerPatchesPlanes(t *testing.T) {
	c, vip := webWithClient(t)
	e := newEngine()
	ops := make(chan op, 64)
	open := func(path string) (l4.DataPlane, error) {
		return &patchPlane{plane: &plane{path: path, log: ops, fail: &failures{}}}, nil
	}
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl := New(c, e, Options{Node: "n1", Plane: "fake", Open: open, Reconcile: time.Hour, Log: testLog(t), Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	e.run("client", "cl")
	o := wantOp(t, ops, "/ns/client", "apply")
	if got := services(o.d)[vip]; !reflect.DeepEqual(got, addrs("10.1.0.11", "10.1.0.12")) {
		t.Fatalf("first apply: %v", got)
	}
	c.status(t, "w2", state.EndpointStatus{Running: true, Health: state.HealthUnhealthy, Service: "web"})
	o = wantOp(t, ops, "/ns/client", "patch")
	if got := services(o.d)[vip]; !reflect.DeepEqual(got, addrs("10.1.0.11")) {
		t.Fatalf("after w2 went unhealthy: %v", got)
	}
	api := c.service(t, "s2", "api", "appnet")
	o = wantOp(t, ops, "/ns/client", "patch")
	if got := services(o.d); len(got) != 2 || len(got[api.VIPs["net"]]) != 0 {
		t.Fatalf("after api was created: %v", got)
	}
	c.apply(t, state.RemoveService{ID: "s1"})
	o = wantOp(t, ops, "/ns/client", "patch")
	want := compute(c).Desired([]string{"net"})
	if got := services(o.d); !reflect.DeepEqual(got, services(want)) || len(got) != 1 {
		t.Fatalf("after web was removed: %v, want %v", got, services(want))
	}
}
