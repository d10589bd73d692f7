package template

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// upstreams loads upstreamTmpl rendering to dir/up.conf.
func upstreams(t *testing.T, dir string) *Template {
	t.Helper()
	tmpl, err := Load(writeTemplate(t, dir, "up.tmpl", upstreamTmpl), filepath.Join(dir, "up.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func servers(ips ...string) string {
	var b strings.Builder
	for _, ip := range ips {
		b.WriteString("server " + ip + ":8080;")
	}
	return b.String()
}

// backends is the server lines of an upstream file, without comments.
func backends(content string) string {
	var b strings.Builder
	for _, l := range strings.Split(content, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "server" {
			b.WriteString("server " + f[1])
		}
	}
	return b.String()
}

func TestOnce(t *testing.T) {
	dir := t.TempDir()
	tmpl := upstreams(t, dir)
	src := newFakeSource(sample("10.1.0.5", "10.1.0.10"))
	cmd := &fakeCommand{file: tmpl.Dest}
	r := NewRunner(src, []*Template{tmpl}, Options{Command: cmd})
	ctx := context.Background()
	if err := r.Once(ctx); err != nil {
		t.Fatal(err)
	}
	// The command runs after the file is in place.
	if cmd.runs != 1 || backends(cmd.seen[0]) != servers("10.1.0.5", "10.1.0.10") {
		t.Fatalf("runs %d, saw %q", cmd.runs, cmd.seen)
	}
	if err := r.Once(ctx); err != nil || cmd.runs != 1 {
		t.Fatalf("same state: %v, %d runs", err, cmd.runs)
	}
	src.set(sample("10.1.0.5"))
	if err := r.Once(ctx); err != nil || cmd.runs != 2 || backends(readFile(t, tmpl.Dest)) != servers("10.1.0.5") {
		t.Fatalf("after a change: %v, %d runs, file %q", err, cmd.runs, readFile(t, tmpl.Dest))
	}
}

func TestOnceErrors(t *testing.T) {
	dir := t.TempDir()
	good := upstreams(t, dir)
	broken, err := Load(writeTemplate(t, dir, "broken.tmpl", `{{ service "web" "nosuchnet" }}`), filepath.Join(dir, "broken.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken.Dest, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := &fakeCommand{errs: []error{errReload}}
	m, _ := NewMetrics(nil)
	r := NewRunner(newFakeSource(sample("10.1.0.5")), []*Template{broken, good}, Options{Command: cmd, Metrics: m})
	err = r.Once(context.Background())
	// Every failure is reported; the good template is written and the
	// broken one's file is left as it was.
	if err == nil || !strings.Contains(err.Error(), `no network "nosuchnet"`) || !errors.Is(err, errReload) {
		t.Fatalf("err = %v", err)
	}
	if got := readFile(t, broken.Dest); got != "old" {
		t.Errorf("broken template's file = %q", got)
	}
	if backends(readFile(t, good.Dest)) != servers("10.1.0.5") || cmd.runs != 1 {
		t.Errorf("good file %q, %d runs", readFile(t, good.Dest), cmd.runs)
	}
	if v := testutil.ToFloat64(m.renderFailing.WithLabelValues(broken.Dest)); v != 1 {
		t.Errorf("xo_template_render_failing = %v", v)
	}
	if v := testutil.ToFloat64(m.execFailing); v != 1 {
		t.Errorf("xo_template_exec_failing = %v", v)
	}

	src := newFakeSource(sample())
	src.fail(api.ErrUnreachable)
	err = NewRunner(src, []*Template{good}, Options{}).Once(context.Background())
	if err == nil || !errors.Is(err, api.ErrUnreachable) || !strings.Contains(err.Error(), "read the cluster state") {
		t.Fatalf("unreachable agent: %v", err)
	}
}

func TestOnceDry(t *testing.T) {
	dir := t.TempDir()
	tmpl := upstreams(t, dir)
	var out strings.Builder
	cmd := &fakeCommand{}
	r := NewRunner(newFakeSource(sample("10.1.0.5")), []*Template{tmpl}, Options{Command: cmd, Dry: &out})
	if err := r.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "> "+tmpl.Dest+"\nupstream web {") || cmd.runs != 0 {
		t.Fatalf("dry output %q, %d runs", out.String(), cmd.runs)
	}
	if _, err := os.Stat(tmpl.Dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dry run wrote the file: %v", err)
	}
}

// running is a Run in the background, stopped at the end of the test.
type running struct {
	t     *testing.T
	clock *fakeClock
	m     *Metrics
}

func startRun(t *testing.T, src Source, tmpls []*Template, opts Options) *running {
	t.Helper()
	h := &running{t: t, clock: newFakeClock()}
	h.m, _ = NewMetrics(nil)
	opts.Clock, opts.Metrics = h.clock, h.m
	r := NewRunner(src, tmpls, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// until waits for cond, which the runner's goroutines make true. The
// limit only keeps a broken test from hanging.
func (h *running) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("never happened: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// timers is the number of timers waiting on the fake clock.
func (h *running) timers() int {
	h.clock.mu.Lock()
	defer h.clock.mu.Unlock()
	return len(h.clock.timers)
}

func (h *running) renders(file, result string) float64 {
	return testutil.ToFloat64(h.m.renders.WithLabelValues(file, result))
}

func TestRunDebouncesAndRunsAfterEachChange(t *testing.T) {
	dir := t.TempDir()
	tmpl := upstreams(t, dir)
	src := newFakeSource(sample("10.1.0.5", "10.1.0.10"))
	cmd := &fakeCommand{file: tmpl.Dest}
	h := startRun(t, src, []*Template{tmpl}, Options{Command: cmd, Wait: Wait{Min: 100 * time.Millisecond, Max: time.Second}})

	// The first state is rendered at once.
	h.until("first render and command", func() bool { return cmd.count() == 1 })
	if got := backends(cmd.seen[0]); got != servers("10.1.0.5", "10.1.0.10") {
		t.Fatalf("first render: %q", got)
	}

	// A change waits for the state to settle.
	src.set(sample("10.1.0.5", "10.1.0.10", "10.1.0.11", "10.1.0.12"))
	h.until("the debounce timer", func() bool { return h.timers() == 1 })
	if got := backends(readFile(t, tmpl.Dest)); got != servers("10.1.0.5", "10.1.0.10") || cmd.count() != 1 {
		t.Fatalf("rendered before the wait: %q", got)
	}
	h.clock.Advance(100 * time.Millisecond)
	h.until("second command", func() bool { return cmd.count() == 2 })
	if got := backends(cmd.seen[1]); got != servers("10.1.0.5", "10.1.0.10", "10.1.0.11", "10.1.0.12") {
		t.Fatalf("after scale-up: %q", got)
	}

	// A new state that renders the same file: no write, no command.
	same := sample("10.1.0.5", "10.1.0.10", "10.1.0.11", "10.1.0.12")
	same.Index, same.Nodes[1].Status = "other", "suspect"
	src.set(same)
	h.until("the debounce timer", func() bool { return h.timers() == 1 })
	h.clock.Advance(100 * time.Millisecond)
	h.until("an unchanged render", func() bool { return h.renders(tmpl.Dest, resultUnchanged) == 1 })
	if cmd.count() != 2 {
		t.Fatalf("command ran for an unchanged file: %d runs", cmd.count())
	}
}

func TestRunRetriesFailingCommand(t *testing.T) {
	dir := t.TempDir()
	tmpl := upstreams(t, dir)
	cmd := &fakeCommand{errs: []error{errReload, errReload}}
	h := startRun(t, newFakeSource(sample("10.1.0.5")), []*Template{tmpl}, Options{Command: cmd})

	h.until("first run", func() bool { return cmd.count() == 1 })
	h.until("the retry timer", func() bool { return h.timers() == 1 })
	h.clock.Advance(time.Second) // first back-off: 1s
	h.until("second run", func() bool { return cmd.count() == 2 })
	h.until("the retry timer", func() bool { return h.timers() == 1 })
	h.clock.Advance(time.Second) // second back-off: 2s, not over yet
	if cmd.count() != 2 {
		t.Fatalf("retried before the back-off: %d runs", cmd.count())
	}
	h.clock.Advance(time.Second)
	h.until("third run", func() bool { return cmd.count() == 3 })
	h.until("the failing gauge back to 0", func() bool { return testutil.ToFloat64(h.m.execFailing) == 0 })
	if n := testutil.ToFloat64(h.m.execs.WithLabelValues(resultError)); n != 2 {
		t.Fatalf("xo_template_exec_total{result=error} = %v", n)
	}
	if h.timers() != 0 {
		t.Fatal("retry still scheduled after success")
	}
}

func TestRunKeepsOldFileWhileRenderFails(t *testing.T) {
	dir := t.TempDir()
	tmpl := upstreams(t, dir)
	if err := os.WriteFile(tmpl.Dest, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	noNet := sample("10.1.0.5")
	noNet.Networks, noNet.Index = nil, "no networks" // the template names appnet: render error
	src := newFakeSource(noNet)
	cmd := &fakeCommand{}
	h := startRun(t, src, []*Template{tmpl}, Options{Command: cmd})

	h.until("a failed render", func() bool { return h.renders(tmpl.Dest, resultError) == 1 })
	if got := readFile(t, tmpl.Dest); got != "old" || cmd.count() != 0 {
		t.Fatalf("file %q, %d runs", got, cmd.count())
	}
	if v := testutil.ToFloat64(h.m.renderFailing.WithLabelValues(tmpl.Dest)); v != 1 {
		t.Fatalf("xo_template_render_failing = %v", v)
	}
	src.set(sample("10.1.0.5"))
	h.until("a render once the network exists", func() bool { return cmd.count() == 1 })
	if got := backends(readFile(t, tmpl.Dest)); got != servers("10.1.0.5") {
		t.Fatalf("file %q", got)
	}
	if v := testutil.ToFloat64(h.m.renderFailing.WithLabelValues(tmpl.Dest)); v != 0 {
		t.Fatalf("xo_template_render_failing = %v", v)
	}
}

func TestRunRetriesAgent(t *testing.T) {
	dir := t.TempDir()
	tmpl := upstreams(t, dir)
	src := newFakeSource(sample("10.1.0.5"))
	src.fail(api.ErrUnreachable, api.ErrUnreachable)
	cmd := &fakeCommand{}
	h := startRun(t, src, []*Template{tmpl}, Options{Command: cmd})
	h.until("retry after the first error", func() bool { return h.timers() == 1 })
	h.clock.Advance(500 * time.Millisecond)
	h.until("the second error", func() bool { return testutil.ToFloat64(h.m.watchErrors) == 2 })
	h.until("retry after the second error", func() bool { return h.timers() == 1 })
	h.clock.Advance(time.Second)
	h.until("render", func() bool { return cmd.count() == 1 })
}

func TestRunDoesNotSpinOnAnAgentThatCannotBlock(t *testing.T) {
	dir := t.TempDir()
	tmpl := upstreams(t, dir)
	src := &nonBlocking{fakeSource: newFakeSource(sample("10.1.0.5"))}
	h := startRun(t, src, []*Template{tmpl}, Options{})
	h.until("the poll timer", func() bool { return h.timers() == 1 })
	if n := src.count(); n != 2 {
		t.Fatalf("%d reads before the poll interval, want 2", n)
	}
	src.set(sample("10.1.0.5", "10.1.0.6"))
	h.clock.Advance(pollEvery)
	h.until("render of the new state", func() bool {
		b, _ := os.ReadFile(tmpl.Dest)
		return backends(string(b)) == servers("10.1.0.5", "10.1.0.6")
	})
}

// nonBlocking answers at once, like an agent without events.
type nonBlocking struct{ *fakeSource }

func (s *nonBlocking) Watch(ctx context.Context, _ string, wait time.Duration) (api.WatchState, error) {
	return s.fakeSource.Watch(ctx, "", wait)
}

func (s *nonBlocking) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}
