package ingress

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fakeIptables is a DOCKER-USER chain.
type fakeIptables struct {
	chain bool     // the chain exists
	rules []string // its rules
	calls []string
}

func (f *fakeIptables) run(_ context.Context, args ...string) error {
	f.calls = append(f.calls, args[0])
	rule := strings.Join(args[2:], " ")
	if !f.chain {
		return errors.New("iptables: No chain/target/match by that name.")
	}
	switch args[0] {
	case "-S":
		return nil
	case "-C":
		if !slices.Contains(f.rules, rule) {
			return errors.New("iptables: Bad rule (does a matching rule exist in that chain?).")
		}
	case "-I":
		f.rules = append([]string{strings.Join(args[3:], " ")}, f.rules...)
	case "-D":
		f.rules = slices.DeleteFunc(f.rules, func(r string) bool { return r == rule })
	}
	return nil
}

func TestForwardRules(t *testing.T) {
	ctx := context.Background()
	ipt := &fakeIptables{chain: true, rules: []string{"-j RETURN"}}
	fw := forward{run: ipt.run}
	if err := fw.Set(ctx, true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"-i xob-+ -m conntrack --ctstate DNAT -m comment --comment xo routing mesh -j ACCEPT",
		"-o xob-+ -m conntrack --ctstate DNAT -m comment --comment xo routing mesh -j ACCEPT",
		"-j RETURN",
	}
	if !reflect.DeepEqual(ipt.rules, want) {
		t.Fatalf("rules %q", ipt.rules)
	}
	ipt.calls = nil
	if err := fw.Set(ctx, true); err != nil || !reflect.DeepEqual(ipt.calls, []string{"-S", "-C", "-C"}) {
		t.Fatalf("second Set: %v, calls %q (want checks only)", err, ipt.calls)
	}
	if err := fw.Set(ctx, false); err != nil || !reflect.DeepEqual(ipt.rules, []string{"-j RETURN"}) {
		t.Fatalf("off: %v, rules %q", err, ipt.rules)
	}
	// No DOCKER-USER (dockerd --iptables=false): nothing to do.
	if err := (forward{run: (&fakeIptables{}).run}).Set(ctx, true); err != nil {
		t.Fatalf("without the chain: %v", err)
	}
	// No iptables at all.
	none := func(context.Context, ...string) error { return exec.ErrNotFound }
	if err := (forward{run: none}).Set(ctx, true); err != nil {
		t.Fatalf("without iptables: %v", err)
	}
	broken := func(context.Context, ...string) error { return errors.New("permission denied") }
	if err := (forward{run: broken}).Set(ctx, true); err == nil || !strings.Contains(err.Error(), "DOCKER-USER") {
		t.Fatalf("a failing iptables: %v", err)
	}
}
