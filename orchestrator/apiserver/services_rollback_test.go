package apiserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/xoverlay/xoverlay/orchestrator/api"
	"github.com/xoverlay/xoverlay/orchestrator/apiserver/apitest"
)

func TestServiceUpdateStatusAndRollback(t *testing.T) {
	c, ops := servicesClient(t)
	ctx := context.Background()
	if _, err := c.ServiceRollback(ctx, "api", api.ServiceRollbackRequest{}); !errors.Is(err, api.ErrConflict) ||
		err.Error() != "service api has no previous spec to roll back to: it was never updated" {
		t.Fatalf("rollback of a service never updated: %v", err)
	}
	if _, err := c.ServiceRollback(ctx, "legacy", api.ServiceRollbackRequest{}); !errors.Is(err, api.ErrConflict) ||
		!strings.Contains(err.Error(), "service legacy is external") {
		t.Fatalf("rollback of an external service: %v", err)
	}
	svc, err := c.Service(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	spec := svc.Spec
	spec.Image = "nginx:1.28"
	spec.UpdateConfig = &api.UpdateConfig{Parallelism: 2, Order: api.OrderStartFirst, FailureAction: api.FailureRollback,
		MaxFailureRatio: 0.25}
	up, err := c.ServiceUpdate(ctx, "api", api.ServiceUpdateRequest{Version: svc.Version, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if up.UpdateStatus == nil || up.UpdateStatus.State != api.UpdateUpdating || up.PreviousSpec == nil ||
		up.PreviousSpec.Image != "nginx:1.27" || *up.Spec.UpdateConfig != *spec.UpdateConfig {
		t.Fatalf("updated: status %+v, previous %+v, policy %+v", up.UpdateStatus, up.PreviousSpec, up.Spec.UpdateConfig)
	}
	tasks, err := c.ServiceTasks(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if !tk.Outdated || tk.Image != "nginx:1.27" {
			t.Errorf("task %s after the update: outdated %v, image %s", tk.Name, tk.Outdated, tk.Image)
		}
	}
	back, err := c.ServiceRollback(ctx, "api", api.ServiceRollbackRequest{Version: up.Version})
	if err != nil {
		t.Fatal(err)
	}
	if back.Spec.Image != "nginx:1.27" || back.UpdateStatus.State != api.UpdateRollbackStarted ||
		back.UpdateStatus.Message != "rollback requested" || back.Version != up.Version+1 {
		t.Fatalf("rolled back: %+v", back)
	}
	_, err = c.ServiceRollback(ctx, "api", api.ServiceRollbackRequest{Version: up.Version})
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "changed since version 2") {
		t.Fatalf("stale rollback: %v", err)
	}
	if calls := ops.Calls(); calls[len(calls)-2] != "ServiceRollback "+apitest.ServiceID("api")+" 2" {
		t.Fatalf("calls %q", calls)
	}
}
