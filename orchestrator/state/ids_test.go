package state

import (
	"regexp"
	"testing"
)

func TestNewID(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9a-z]{25}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !valid.MatchString(id) || seen[id] {
			t.Fatalf("ID %q: want 25 base-36 characters, never twice", id)
		}
		seen[id] = true
	}
}
