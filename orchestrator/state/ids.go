package state

import (
	"crypto/rand"
	"math/big"
	"strings"
)

// NewID returns a random object ID like Swarm's: 128 bits in base 36, 25
// lowercase letters and digits. Services and tasks get theirs from it.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	s := new(big.Int).SetBytes(b[:]).Text(36)
	return strings.Repeat("0", 25-len(s)) + s
}
