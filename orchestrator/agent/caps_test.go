package agent

import "testing"

func TestProbeCapacity(t *testing.T) {
	c := probeCapacity()
	if c.NanoCPUs < 1e9 || c.MemoryBytes < 1<<20 {
		t.Fatalf("capacity %+v: want at least one CPU and some memory", c)
	}
}
