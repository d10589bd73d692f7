package state

import "testing"

func TestSetEndpointStatus(t *testing.T) {
	s, f := newNet(t, "10.1.0.0/24", "")
	mustApply(t, f, CreateEndpoint{Endpoint: Endpoint{ID: "ep1", NetworkID: "net", Node: "n1", IP: "10.1.0.2"}})
	events, cancel := s.Watch()
	defer cancel()

	up := EndpointUpdate{ID: "ep1", ContainerID: "c1", Container: "web",
		Status: EndpointStatus{Aliases: []string{"api"}, Running: true, Health: HealthStarting, Service: "web"}}
	gone := EndpointUpdate{ID: "nope", Status: EndpointStatus{Running: true}}
	if n := mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{up, gone}}); n != 1 {
		t.Fatalf("changed %v, want 1 (a missing endpoint is skipped)", n)
	}
	if e := <-events; e.Kind != "endpoint" || e.ID != "ep1" {
		t.Fatalf("event %+v", e)
	}
	if n := mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{up}}); n != 0 {
		t.Fatalf("same status changed %v endpoints", n)
	}
	select {
	case e := <-events:
		t.Fatalf("no-op emitted %+v", e)
	default:
	}
	s.View(func(tx ReadTx) {
		ep := tx.Endpoint("ep1")
		if ep.Container != "web" || ep.ContainerID != "c1" || ep.InService() {
			t.Fatalf("endpoint %+v: want named, not in service while starting", ep)
		}
	})
	up.Status.Health = HealthHealthy
	mustApply(t, f, SetEndpointStatus{Endpoints: []EndpointUpdate{up}})
	s.View(func(tx ReadTx) {
		if !tx.Endpoint("ep1").InService() {
			t.Fatal("healthy running endpoint not in service")
		}
	})
}

func TestInService(t *testing.T) {
	cases := []struct {
		s    EndpointStatus
		want bool
	}{
		{EndpointStatus{}, false},
		{EndpointStatus{Running: true}, true},
		{EndpointStatus{Running: true, Health: HealthStarting}, false},
		{EndpointStatus{Running: true, Health: HealthHealthy}, true},
		{EndpointStatus{Running: true, Health: HealthUnhealthy}, false},
		{EndpointStatus{Health: HealthHealthy}, false},
	}
	for _, c := range cases {
		if got := c.s.InService(); got != c.want {
			t.Errorf("%+v: InService %v, want %v", c.s, got, c.want)
		}
	}
}
