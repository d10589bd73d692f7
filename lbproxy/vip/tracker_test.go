package vip

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// TestTrackerFollowsCompute changes a cluster at random, commit by
// commit, and checks after each burst that the tracker's table, kept up
// from the commits' events only, is the table Compute makes from
// scratch, and that the networks it says changed are those that did.
func TestTrackerFollowsCompute(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { trackRandom(t, seed) })
	}
}

func trackRandom(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	c := newCluster(t)
	c.network(t, "net2", "backnet", "10.2.0.0/24")
	events, stop := c.Watch()
	defer func() { stop() }()
	trk := newTracker()
	c.View(func(tx state.ReadTx) { trk.rebuild(tx) })

	var svcs, eps, tasks []string
	used := map[string]int{}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	statuses := []state.EndpointStatus{{Running: true}, {}, {Running: true, Health: state.HealthHealthy},
		{Running: true, Health: "unhealthy"}}
	for step := range 300 {
		switch op := r.IntN(10); {
		case op == 0 || len(svcs) == 0:
			id := fmt.Sprintf("s%d", step)
			nets := [][]string{{"appnet"}, {"backnet"}, {"appnet", "backnet"}}[r.IntN(3)]
			spec := state.ServiceSpec{Name: "svc" + id, Image: "xo-demo:v1", Replicas: 1}
			for _, n := range nets {
				spec.Networks = append(spec.Networks, state.NetworkAttachment{Target: n})
			}
			if r.IntN(4) == 0 {
				spec.EndpointMode = state.EndpointDNSRR
			}
			if r.IntN(2) == 0 && spec.EndpointMode != state.EndpointDNSRR {
				spec.Ports = []state.PortConfig{{Target: uint16(8000 + r.IntN(3)), Protocol: "tcp"}}
			}
			c.apply(t, state.CreateService{Service: state.Service{ID: id, Spec: spec, CreatedAt: t0}})
			svcs = append(svcs, id)
			tid := "t" + id
			c.apply(t, state.CreateTasks{Tasks: []state.Task{{ID: tid, ServiceID: id, Slot: 1, CreatedAt: t0}}})
			tasks = append(tasks, tid)
		case op <= 3:
			id := fmt.Sprintf("e%d", step)
			net := []string{"net", "net2"}[r.IntN(2)]
			used[net]++
			ip := fmt.Sprintf("10.%d.0.%d", map[string]int{"net": 1, "net2": 2}[net], 10+used[net])
			st := statuses[r.IntN(len(statuses))]
			var svc state.Service
			c.View(func(tx state.ReadTx) { svc = *tx.Service(pick(svcs)) })
			st.Service = svc.Spec.Name
			if r.IntN(2) == 0 {
				st.Task = "t" + svc.ID
			}
			c.apply(t, state.CreateEndpoint{Endpoint: state.Endpoint{ID: id, NetworkID: net, Node: []string{"n1", "n2"}[r.IntN(2)], IP: ip, CreatedAt: t0}})
			c.status(t, id, st)
			eps = append(eps, id)
		case op <= 5 && len(eps) > 0:
			id := pick(eps)
			var st state.EndpointStatus
			c.View(func(tx state.ReadTx) {
				if ep := tx.Endpoint(id); ep != nil {
					st = ep.EndpointStatus
				}
			})
			s := statuses[r.IntN(len(statuses))]
			st.Running, st.Health = s.Running, s.Health
			c.status(t, id, st)
		case op == 6 && len(eps) > 0:
			c.apply(t, state.DeleteEndpoint{ID: pick(eps)})
		case op == 7 && len(tasks) > 0:
			c.apply(t, state.DrainTasks{IDs: []string{pick(tasks)}})
		case op == 8 && len(svcs) > 1:
			i := r.IntN(len(svcs))
			c.apply(t, state.RemoveService{ID: svcs[i]})
			svcs = append(svcs[:i], svcs[i+1:]...)
		case op == 9:
			st := []string{state.StatusDown, state.StatusReady}[r.IntN(2)]
			c.apply(t, state.SetNodeStatus{ID: []string{"n1", "n2"}[r.IntN(2)], Status: st, At: t0})
		}
		if r.IntN(3) != 0 {
			continue // a burst of several commits
		}
		var batch []state.Event
		lost := false
		for len(events) > 0 && !lost {
			e, ok := <-events
			if !ok {
				t.Logf("step %d: the store dropped the watch", step)
				events, stop = c.Watch()
				lost = true
			}
			batch = append(batch, e)
		}
		before := cloneTable(trk.table)
		var changed map[string]bool
		var want Table
		c.View(func(tx state.ReadTx) {
			var ok bool
			if changed, ok = trk.update(tx, batch); lost || !ok {
				changed = trk.rebuild(tx)
			}
			want = Compute(tx)
		})
		if !reflect.DeepEqual(normalize(trk.table), normalize(want)) {
			t.Fatalf("step %d: tracker\n%v\nCompute\n%v", step, trk.table, want)
		}
		// More may be reported (a VIP freed and taken again in one burst).
		for n := range want.Changed(before) {
			if !changed[n] {
				t.Fatalf("step %d: changed %v lacks %s", step, changed, n)
			}
		}
	}
}

func cloneTable(t Table) Table {
	out := Table{}
	for n, ss := range t {
		out[n] = append(ss[:0:0], ss...)
	}
	return out
}

// normalize drops the difference between nil and empty slices.
func normalize(t Table) map[string][]string {
	out := map[string][]string{}
	for n, ss := range t {
		for _, s := range ss {
			out[n] = append(out[n], fmt.Sprintf("%s %v %v", s.VIP, s.Backends, s.KnownPorts))
		}
	}
	return out
}
