package state

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Event tells a watcher that an object changed after a commit.
type Event struct {
	Kind   string // "node", "network", "endpoint", "service", "task", "cluster", "all"
	Action string // "create", "update", "delete", ActionReserve
	ID     string
	// Index is the raft index of the commit that made the change (see
	// Store.Index); 0 for changes made outside raft (tests, tools).
	Index uint64
}

// ActionReserve is a network event that changed only the network's
// reserved addresses (a service's VIP, a container's --ip): consumers
// that follow what a network is (name, subnet, engines, blocks) and not
// who holds which address may ignore it, so that creating a service is
// not a network change for them.
const ActionReserve = "reserve"

// Store keeps Data in memory. Only the FSM changes it; everyone else reads
// through View or the copying getters.
type Store struct {
	mu       sync.RWMutex
	data     *Data
	ipIndex  map[ipKey]string               // (network, ip) -> endpoint ID
	byName   map[string]string              // service name -> service ID
	svcTasks map[string]map[string]struct{} // service ID -> its task IDs
	watchers map[chan Event]struct{}
	dropped  uint64

	applying  atomic.Uint64 // the raft index the FSM is applying (see index.go)
	evIndex   uint64        // the index of the last commit that published events
	drainedAt []uint64      // the indexes of the latest drains, oldest first
}

type ipKey struct{ network, ip string }

// NewStore returns an empty store.
func NewStore() *Store {
	s := &Store{watchers: map[chan Event]struct{}{}}
	s.reset(newData())
	return s
}

func (s *Store) reset(d *Data) {
	s.data = d
	s.drainedAt = nil
	s.ipIndex = map[ipKey]string{}
	for id, ep := range d.Endpoints {
		s.ipIndex[ipKey{ep.NetworkID, ep.IP}] = id
	}
	s.byName = map[string]string{}
	for id, svc := range d.Services {
		s.byName[svc.Name] = id
	}
	s.svcTasks = map[string]map[string]struct{}{}
	for id, t := range d.Tasks {
		s.indexTask(t.ServiceID, id)
	}
}

// ReadTx is a read-only view of the store, valid only inside View.
// Objects it returns must not be changed or kept.
type ReadTx struct{ s *Store }

// View runs fn with a consistent read-only view.
func (s *Store) View(fn func(ReadTx)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(ReadTx{s})
}

// Cluster returns the cluster identity, nil before `xo cluster init`.
func (tx ReadTx) Cluster() *Cluster { return tx.s.data.Cluster }

// Network returns a network by ID.
func (tx ReadTx) Network(id string) *Network { return tx.s.data.Networks[id] }

// Node returns a node by ID.
func (tx ReadTx) Node(id string) *Node { return tx.s.data.Nodes[id] }

// Endpoint returns an endpoint by ID.
func (tx ReadTx) Endpoint(id string) *Endpoint { return tx.s.data.Endpoints[id] }

// IPUser returns the ID of the endpoint using ip on a network, or "".
func (tx ReadTx) IPUser(network, ip string) string {
	return tx.s.ipIndex[ipKey{network, ip}]
}

// Networks returns every network, ordered by name then ID.
func (tx ReadTx) Networks() []*Network {
	out := make([]*Network, 0, len(tx.s.data.Networks))
	for _, n := range tx.s.data.Networks {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Endpoints returns the endpoints of a network ("" for all), ordered by IP.
func (tx ReadTx) Endpoints(network string) []*Endpoint {
	var out []*Endpoint
	for _, ep := range tx.s.data.Endpoints {
		if network == "" || ep.NetworkID == network {
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IP < out[j].IP })
	return out
}

// Nodes returns every node ordered by hostname.
func (tx ReadTx) Nodes() []*Node {
	out := make([]*Node, 0, len(tx.s.data.Nodes))
	for _, n := range tx.s.data.Nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hostname < out[j].Hostname })
	return out
}

// Service returns a service by ID. Services are copy-on-write: the
// object may be kept after View, never changed.
func (tx ReadTx) Service(id string) *Service { return tx.s.data.Services[id] }

// ServiceByName returns a service by name, or nil.
func (tx ReadTx) ServiceByName(name string) *Service {
	return tx.s.data.Services[tx.s.byName[name]]
}

// Services returns every service, ordered by name.
func (tx ReadTx) Services() []*Service {
	out := slices.Collect(maps.Values(tx.s.data.Services))
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Task returns a task by ID. Tasks are copy-on-write, like services.
func (tx ReadTx) Task(id string) *Task { return tx.s.data.Tasks[id] }

// Tasks returns the tasks of a service ("" for all), ordered by service,
// slot, node and creation.
func (tx ReadTx) Tasks(service string) []*Task {
	var out []*Task
	if service == "" {
		out = slices.Collect(maps.Values(tx.s.data.Tasks))
	}
	for id := range tx.s.svcTasks[service] {
		out = append(out, tx.s.data.Tasks[id])
	}
	slices.SortFunc(out, compareTasks)
	return out
}

// NodeTasks returns the tasks assigned to a node, ordered like Tasks.
func (tx ReadTx) NodeTasks(node string) []*Task {
	var out []*Task
	for _, t := range tx.s.data.Tasks {
		if t.NodeID == node {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, compareTasks)
	return out
}

func compareTasks(a, b *Task) int {
	return cmp.Or(strings.Compare(a.ServiceID, b.ServiceID), cmp.Compare(a.Slot, b.Slot),
		strings.Compare(a.NodeID, b.NodeID), a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
}

func (s *Store) indexTask(service, id string) {
	if s.svcTasks[service] == nil {
		s.svcTasks[service] = map[string]struct{}{}
	}
	s.svcTasks[service][id] = struct{}{}
}

func (s *Store) unindexTask(service, id string) {
	delete(s.svcTasks[service], id)
	if len(s.svcTasks[service]) == 0 {
		delete(s.svcTasks, service)
	}
}

// NetworkCopy returns a copy of a network, safe to keep.
func (s *Store) NetworkCopy(id string) (*Network, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.data.Networks[id]
	if !ok {
		return nil, false
	}
	return n.clone(), true
}

// Watch returns a channel of events after each commit and a cancel func.
// A watcher that falls 1024 events behind loses events; watchers also
// reconcile periodically.
func (s *Store) Watch() (<-chan Event, func()) {
	ch := make(chan Event, 1024)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		if _, ok := s.watchers[ch]; ok {
			delete(s.watchers, ch)
			close(ch)
		}
		s.mu.Unlock()
	}
}

// publish must be called with s.mu held. The events carry the index
// of the commit being applied, which the store reaches with them.
func (s *Store) publish(events []Event) {
	idx := s.reach()
	if len(events) > 0 {
		s.evIndex = idx
	}
	for ch := range s.watchers {
		for _, e := range events {
			e.Index = idx
			select {
			case ch <- e:
			default:
				s.dropped++
			}
		}
	}
}

// Reset empties the store, for a node about to receive a cluster's state
// through raft (a join). Watchers get a restore event.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reset(newData())
	s.publish([]Event{{Kind: "all", Action: "restore"}})
}

// ServiceCounts returns the number of services and tasks, for metrics.
func (s *Store) ServiceCounts() (services, tasks int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.data.Services), len(s.data.Tasks)
}

// Counts returns object counts for metrics.
func (s *Store) Counts() (nodes, networks, endpoints int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.data.Nodes), len(s.data.Networks), len(s.data.Endpoints)
}
