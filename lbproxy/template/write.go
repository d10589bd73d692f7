package template

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// defaultMode is the mode of a file the first render creates.
const defaultMode fs.FileMode = 0o644

// WriteFile replaces path with content atomically, unless it already
// holds exactly content; it reports whether it wrote. The new content
// goes to a temporary file in the same directory, which is synced and
// renamed over path, so a reader sees the old file or the new one, never
// a part. An existing file keeps its mode and owner; a symbolic link is
// followed and its target replaced.
func WriteFile(path string, content []byte) (bool, error) {
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	}
	old, err := os.ReadFile(target)
	switch {
	case err == nil && bytes.Equal(old, content):
		return false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("read %s: %w", target, err)
	}
	mode, uid, gid := defaultMode, -1, -1
	if fi, err := os.Stat(target); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	if err := replace(target, content, mode, uid, gid); err != nil {
		return false, err
	}
	return true, nil
}

func replace(target string, content []byte, mode fs.FileMode, uid, gid int) (err error) {
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+".xo-*")
	if err != nil {
		return fmt.Errorf("write %s: temporary file: %w", target, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(content); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: keep mode %v: %w", target, mode, err)
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("write %s: keep owner %d:%d (run as that user or as root): %w", target, uid, gid, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", tmp, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("write %s: rename: %w", target, err)
	}
	// Make the rename itself durable; the file is in place either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
