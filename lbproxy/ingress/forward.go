package ingress

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/xoverlay/xoverlay/netdriver"
)

// dockerUser is the iptables chain Docker leaves to its users: FORWARD
// jumps there first.
const dockerUser = "DOCKER-USER"

// forwardComment tags this package's iptables rules.
const forwardComment = "xo routing mesh"

// forwardRules accept forwarded packets of DNATed connections to and
// from the xoverlay bridges: the published ports' traffic. Docker sets
// FORWARD's policy to DROP when it turned IP forwarding on itself, and an
// accept in another table cannot override that, so it goes in Docker's
// own chain for users.
func forwardRules() [][]string {
	br := netdriver.BridgePrefix + "+"
	return [][]string{
		{"-o", br, "-m", "conntrack", "--ctstate", "DNAT", "-m", "comment", "--comment", forwardComment, "-j", "ACCEPT"},
		{"-i", br, "-m", "conntrack", "--ctstate", "DNAT", "-m", "comment", "--comment", forwardComment, "-j", "ACCEPT"},
	}
}

// Iptables runs the iptables command with args; the error carries its
// output.
type Iptables func(ctx context.Context, args ...string) error

// RunIptables is Iptables with the iptables binary of the host (the one
// Docker uses), in the caller's network namespace.
func RunIptables(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// forward keeps the rules in DOCKER-USER while anything is published.
type forward struct {
	run Iptables
}

// Set adds (on) or removes the rules. Without a DOCKER-USER chain
// (dockerd --iptables=false, or no iptables) there is nothing Docker
// drops, and nothing to do.
func (f forward) Set(ctx context.Context, on bool) error {
	if err := f.run(ctx, "-S", dockerUser); err != nil {
		if errors.Is(err, exec.ErrNotFound) || !on {
			return nil
		}
		if strings.Contains(err.Error(), "No chain") || strings.Contains(err.Error(), "does not exist") {
			return nil
		}
		return fmt.Errorf("ingress: read iptables chain %s: %w", dockerUser, err)
	}
	var errs []error
	for _, r := range forwardRules() {
		present := f.run(ctx, append([]string{"-C", dockerUser}, r...)...) == nil
		switch {
		case on && !present:
			if err := f.run(ctx, append([]string{"-I", dockerUser, "1"}, r...)...); err != nil {
				errs = append(errs, fmt.Errorf("ingress: accept published ports' traffic in %s: %w", dockerUser, err))
			}
		case !on && present:
			if err := f.run(ctx, append([]string{"-D", dockerUser}, r...)...); err != nil {
				errs = append(errs, fmt.Errorf("ingress: remove the routing mesh's rule from %s: %w", dockerUser, err))
			}
		}
	}
	return errors.Join(errs...)
}
