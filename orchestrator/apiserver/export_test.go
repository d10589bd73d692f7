package apiserver

import (
	"testing"
	"time"
)

// SetCreateWait shortens how long POST /v1/networks waits for the network
// to appear, until the test ends.
func SetCreateWait(t testing.TB, d time.Duration) {
	old := createWait
	createWait = d
	t.Cleanup(func() { createWait = old })
}
