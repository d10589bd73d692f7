package executor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// simRecord is one change of a SimEngine's containers, a line of its
// journal. Of a container's config it keeps the image, the labels, the
// healthcheck's test and the networks with their aliases.
type simRecord struct {
	Op     string              `json:"op"` // create, start, exit, remove, connect
	ID     string              `json:"id"`
	Name   string              `json:"name,omitempty"`
	Image  string              `json:"image,omitempty"`
	Labels map[string]string   `json:"labels,omitempty"`
	Health []string            `json:"health,omitempty"`
	Nets   map[string][]string `json:"nets,omitempty"` // network -> aliases
	Code   int                 `json:"code,omitempty"`
	At     time.Time           `json:"at"`
}

// simJournal is the file a SimEngine appends its records to.
type simJournal struct {
	path   string
	f      *os.File
	closed bool
}

// OpenSimEngine returns a simulated engine whose containers outlive the
// process, as a real engine's outlive the agent: it replays the journal
// at path (a missing file is an empty engine), rewrites it with only the
// containers that are left, and appends every change to it. Close it.
func OpenSimEngine(path string) (*SimEngine, error) {
	s := NewSimEngine()
	if err := s.replay(path); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := s.rewrite(tmp); err != nil {
		return nil, fmt.Errorf("simulated engine: rewrite journal %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("simulated engine: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("simulated engine: %w", err)
	}
	s.journal = &simJournal{path: path, f: f}
	return s, nil
}

// Close closes the journal; every later call fails. The containers stay
// in the journal for the next OpenSimEngine.
func (s *SimEngine) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal == nil || s.journal.closed {
		return nil
	}
	s.journal.closed = true
	if err := s.journal.f.Close(); err != nil {
		return fmt.Errorf("simulated engine: close journal: %w", err)
	}
	return nil
}

// record appends r to the journal (nothing without one); the lock is
// held. A change is applied only once recorded.
func (s *SimEngine) record(r simRecord) error {
	if s.journal == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("simulated engine: encode %s record: %w", r.Op, err)
	}
	if _, err := s.journal.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("simulated engine: journal %s: %w", s.journal.path, err)
	}
	return nil
}

// apply makes the change r says and returns its container (nil when it
// is not there); the lock is held.
func (s *SimEngine) apply(r simRecord) *simContainer {
	if r.Op == "create" {
		cfg := &container.Config{Image: r.Image, Labels: maps.Clone(r.Labels)}
		if r.Health != nil {
			cfg.Healthcheck = &container.HealthConfig{Test: slices.Clone(r.Health)}
		}
		return s.add(r.ID, r.Name, r.At, cfg, simNets(r.Nets))
	}
	c := s.ctrs[r.ID]
	if c == nil {
		return nil
	}
	switch r.Op {
	case "start":
		s.run(c, r.At)
	case "exit":
		s.exit(c, r.Code, r.At)
	case "remove":
		s.remove(c)
	case "connect":
		maps.Copy(c.nets, simNets(r.Nets))
	}
	return c
}

func simNets(nets map[string][]string) map[string]*network.EndpointSettings {
	out := make(map[string]*network.EndpointSettings, len(nets))
	for n, aliases := range nets {
		out[n] = &network.EndpointSettings{Aliases: slices.Clone(aliases)}
	}
	return out
}

// replay applies the journal at path. A last line cut short (the
// process was killed while writing it) is left out; a bad line before
// the end is an error.
func (s *SimEngine) replay(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("simulated engine: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var bad error // a line that is not a record: fatal unless it is the last
	for n := 1; sc.Scan(); n++ {
		if bad != nil {
			return bad
		}
		var r simRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			bad = fmt.Errorf("simulated engine: journal %s: line %d is not a record (%w); remove the file to start "+
				"with no containers", path, n, err)
			continue
		}
		s.apply(r)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("simulated engine: read journal %s: %w", path, err)
	}
	return nil
}

// rewrite writes the containers there are as a journal to path: per
// container, in creation order, its create and its last start and exit.
func (s *SimEngine) rewrite(path string) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	cs := slices.SortedFunc(maps.Values(s.ctrs), func(a, b *simContainer) int { return a.seq - b.seq })
	for _, c := range cs {
		for _, r := range c.records() {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Sync()
}

// records are the journal records that make c as it is.
func (c *simContainer) records() []simRecord {
	create := simRecord{Op: "create", ID: c.id, Name: c.name, Image: c.cfg.Image, Labels: c.cfg.Labels, At: c.created,
		Nets: map[string][]string{}}
	if hc := c.cfg.Healthcheck; hc != nil {
		create.Health = hc.Test
	}
	for n, es := range c.nets {
		create.Nets[n] = es.Aliases
	}
	out := []simRecord{create}
	if started, err := time.Parse(time.RFC3339Nano, c.state.StartedAt); err == nil {
		out = append(out, simRecord{Op: "start", ID: c.id, At: started})
	}
	if finished, err := time.Parse(time.RFC3339Nano, c.state.FinishedAt); err == nil {
		out = append(out, simRecord{Op: "exit", ID: c.id, Code: c.state.ExitCode, At: finished})
	}
	return out
}
