package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// On-disk names inside a node's TLS directory.
const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
	certFile   = "node.crt"
	keyFile    = "node.key"
)

// Save writes the material to dir (0700), each file atomically.
func (m Material) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	key, err := KeyPEM(m.Key)
	if err != nil {
		return err
	}
	files := map[string][]byte{caCertFile: CertPEM(m.CA), certFile: CertPEM(m.Cert), keyFile: key}
	if m.CAKey != nil {
		if files[caKeyFile], err = KeyPEM(m.CAKey); err != nil {
			return err
		}
	}
	for name, b := range files {
		if err := writeAtomic(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// Load reads material saved by Save; the CA key is optional.
func Load(dir string) (Material, error) {
	var m Material
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		return b, nil
	}
	b, err := read(caCertFile)
	if err == nil {
		m.CA, err = ParseCert(b)
	}
	if err == nil {
		b, err = read(certFile)
	}
	if err == nil {
		m.Cert, err = ParseCert(b)
	}
	if err == nil {
		b, err = read(keyFile)
	}
	if err == nil {
		m.Key, err = ParseKey(b)
	}
	if err != nil {
		return m, err
	}
	b, err = os.ReadFile(filepath.Join(dir, caKeyFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return m, fmt.Errorf("pki: %w", err)
	default:
		if m.CAKey, err = ParseKey(b); err != nil {
			return m, err
		}
	}
	return m, nil
}

// SaveCAKey adds the CA key to a node's directory (on promotion).
func SaveCAKey(dir string, ca CA) error {
	b, err := KeyPEM(ca.Key)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, caKeyFile), b)
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
