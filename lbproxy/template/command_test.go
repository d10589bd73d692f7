package template

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestShell(t *testing.T) {
	ctx := context.Background()
	if err := (Shell{Line: "true"}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	err := Shell{Line: "echo 'nginx: [emerg] host not found' >&2; exit 3"}.Run(ctx)
	if err == nil || err.Error() != `command "echo 'nginx: [emerg] host not found' >&2; exit 3": exit status 3: nginx: [emerg] host not found` {
		t.Fatalf("err = %v", err)
	}
	// The timeout kills the shell and what it started.
	err = Shell{Line: "sleep 30 & wait", Timeout: 50 * time.Millisecond}.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "timed out after 50ms (raise --exec-timeout") {
		t.Fatalf("err = %v", err)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: time.Second, max: 5 * time.Second}
	var got []time.Duration
	for range 5 {
		got = append(got, b.next())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	b.reset()
	if d := b.next(); d != time.Second {
		t.Fatalf("after reset: %v", d)
	}
}
