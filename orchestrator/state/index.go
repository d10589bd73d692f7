package state

// The raft index of the state. The FSM tells the store which log entry
// it applies; the store reaches that index with the entry's changes, in
// the same critical section, so a read transaction can say which index
// it reads at (ReadTx.Index) and a component that applied what it read
// can say "my data plane reflects the state at index I". Every event
// carries the index of its commit.

// keepDrains is how many drain indexes the store remembers.
const keepDrains = 64

// reach makes the index of the entry being applied the store's, and
// returns the store's index. s.mu must be held for writing.
func (s *Store) reach() uint64 {
	if a := s.applying.Load(); a > s.data.Index {
		s.data.Index = a
	}
	return s.data.Index
}

// beginApply and endApply bracket the FSM's application of the log
// entry at index: the store is at index afterwards, whether the entry
// changed anything or not.
func (s *Store) beginApply(index uint64) { s.applying.Store(index) }

func (s *Store) endApply() {
	s.mu.Lock()
	s.reach()
	s.mu.Unlock()
	s.applying.Store(0)
}

// Index is the raft index of the last command the store applied (0
// before any, or when commands are applied outside raft).
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.data.Index
}

// Index is the raft index of the state this transaction reads.
func (tx ReadTx) Index() uint64 { return tx.s.data.Index }

// Indexes returns the store's index and the index of the last commit
// that changed something a watcher was told of (its events carry it).
// The commits after changed and up to applied changed nothing: a
// component that applied every event up to changed reflects the state
// at applied.
func (s *Store) Indexes() (applied, changed uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.data.Index, s.evIndex
}

// noteDrain records that the commit being applied takes endpoints out
// of service before a stop (DrainTasks, DrainContainer). s.mu must be
// held for writing.
func (s *Store) noteDrain() {
	idx := s.reach()
	if n := len(s.drainedAt); n > 0 && s.drainedAt[n-1] >= idx {
		return
	}
	s.drainedAt = append(s.drainedAt, idx)
	if len(s.drainedAt) > keepDrains {
		s.drainedAt = append(s.drainedAt[:0], s.drainedAt[1:]...)
	}
}

// DrainedBetween says whether a commit with an index in (after, upTo]
// took endpoints out of service before a stop: a node that applied it
// tells the leader at once. Only the latest drains are remembered; a
// range reaching back before them counts as holding one.
func (s *Store) DrainedBetween(after, upTo uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.drainedAt) == keepDrains && after < s.drainedAt[0] {
		return true
	}
	for _, i := range s.drainedAt {
		if i > after && i <= upTo {
			return true
		}
	}
	return false
}
