package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// stopStack stops what Run started, last first.
type stopStack struct {
	names []string
	fns   []func() error
}

func (s *stopStack) push(name string, fn func() error) {
	s.names = append(s.names, name)
	s.fns = append(s.fns, fn)
}

func (s *stopStack) unwind() error {
	var errs []error
	for i := len(s.fns) - 1; i >= 0; i-- {
		if err := s.fns[i](); err != nil {
			errs = append(errs, fmt.Errorf("agent: stop %s: %w", s.names[i], err))
		}
	}
	s.fns, s.names = nil, nil
	return errors.Join(errs...)
}

// listenUnix listens on a unix socket, replacing a stale socket file left
// by a killed agent.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := ignoreMissing(os.Remove(path)); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
