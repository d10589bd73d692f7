package agent

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/google/nftables"

	"github.com/xoverlay/xoverlay/orchestrator/state"
)

// probeCapabilities reports what this host's kernel offers. Probing, not
// assuming: /proc/net/ip_vs exists only when ip_vs is loaded or built in.
func probeCapabilities() state.Capabilities {
	c := state.Capabilities{}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		c.Kernel = strings.TrimSpace(string(b))
	}
	_, err := os.Stat("/proc/net/ip_vs")
	c.IPVS = err == nil
	c.NFTables = nftablesWorks()
	return c
}

// nftablesWorks asks the kernel for its nftables tables: built-in nf_tables
// leaves no trace in /sys/module, so only a real request tells.
func nftablesWorks() bool {
	conn, err := nftables.New()
	if err != nil {
		return false
	}
	defer conn.CloseLasting()
	_, err = conn.ListTables()
	return err == nil
}

// Load-balancing data planes, best first.
const (
	DataPlaneIPVS      = "ipvs"
	DataPlaneNFTables  = "nftables"
	DataPlaneUserspace = "userspace"
)

// DataPlane is the load-balancing data plane a node uses: the one its
// agent probed and reported, or else the one its capabilities allow:
// IPVS where the kernel has ip_vs, nftables where not, a userspace proxy
// where neither works.
func DataPlane(c state.Capabilities) string {
	switch {
	case c.DataPlane != "":
		return c.DataPlane
	case c.IPVS:
		return DataPlaneIPVS
	case c.NFTables:
		return DataPlaneNFTables
	}
	return DataPlaneUserspace
}

// probeCapacity is what tasks may reserve on this host: its CPUs and its
// memory (MemTotal). A value it cannot read stays 0: unknown, not checked.
func probeCapacity() state.Resources {
	r := state.Resources{NanoCPUs: int64(runtime.NumCPU()) * 1e9}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return r
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				r.MemoryBytes = kb * 1024
			}
			break
		}
	}
	return r
}
