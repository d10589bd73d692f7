package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/xoverlay/xoverlay/orchestrator/pki"
)

// clusterFile records that this node belongs to a multi-node cluster; its
// absence means the embedded single-node mode.
type clusterFile struct {
	ClusterID string `json:"cluster_id"`
	RaftAddr  string `json:"raft_addr"` // advertised host:port
	Addr      string `json:"addr"`      // underlay IP
}

func (a *Agent) clusterPath() string { return filepath.Join(a.cfg.StateDir, "cluster.json") }
func (a *Agent) tlsDir() string      { return filepath.Join(a.cfg.StateDir, "tls") }
func (a *Agent) raftDir() string     { return filepath.Join(a.cfg.StateDir, "raft") }

func (a *Agent) loadCluster() (*clusterFile, pki.Material, error) {
	b, err := os.ReadFile(a.clusterPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, pki.Material{}, nil
	}
	if err != nil {
		return nil, pki.Material{}, fmt.Errorf("agent: %w", err)
	}
	var cf clusterFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, pki.Material{}, fmt.Errorf("agent: %s: %w", a.clusterPath(), err)
	}
	mat, err := pki.Load(a.tlsDir())
	if err != nil {
		return nil, mat, fmt.Errorf("agent: cluster TLS material: %w", err)
	}
	return &cf, mat, nil
}

func (a *Agent) saveCluster(cf clusterFile, mat pki.Material) error {
	if err := mat.Save(a.tlsDir()); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(cf, "", "  ")
	tmp := a.clusterPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := os.Rename(tmp, a.clusterPath()); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}
