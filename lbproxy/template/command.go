package template

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// DefaultExecTimeout bounds one run of the --exec command.
const DefaultExecTimeout = 30 * time.Second

// outputTail is how much of a failed command's output its error keeps.
const outputTail = 2 << 10

// Shell runs a command line with /bin/sh -c, as --exec gives it.
type Shell struct {
	Line    string
	Timeout time.Duration // 0: DefaultExecTimeout
}

// Run runs the command to its end, or kills it (and what it started in
// its process group) when the timeout or ctx ends. The error carries the
// exit status and the end of the output.
func (s Shell) Run(ctx context.Context) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.Line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("command %q timed out after %s (raise --exec-timeout if it needs longer)%s", s.Line, timeout, tail(out.Bytes()))
	}
	return fmt.Errorf("command %q: %w%s", s.Line, err, tail(out.Bytes()))
}

func tail(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > outputTail {
		s = "..." + s[len(s)-outputTail:]
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// backoff is an exponential delay: min, 2*min, ... up to max.
type backoff struct {
	min, max, cur time.Duration
}

// next returns the delay before the next attempt.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
