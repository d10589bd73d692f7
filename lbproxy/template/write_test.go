package template

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "up.conf")
	wrote, err := WriteFile(p, []byte("one\n"))
	if err != nil || !wrote {
		t.Fatalf("first write: %v %v", wrote, err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", fi.Mode().Perm())
	}
	before := inode(t, p)
	if wrote, err := WriteFile(p, []byte("one\n")); err != nil || wrote {
		t.Fatalf("same content: wrote=%v %v", wrote, err)
	}
	if inode(t, p) != before {
		t.Error("same content replaced the file")
	}
	// The mode of an existing file stays; the content is replaced by a
	// rename (a new inode), never rewritten in place.
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if wrote, err := WriteFile(p, []byte("two\n")); err != nil || !wrote {
		t.Fatalf("new content: %v %v", wrote, err)
	}
	fi, _ := os.Stat(p)
	if got := readFile(t, p); got != "two\n" || fi.Mode().Perm() != 0o600 || inode(t, p) == before {
		t.Errorf("after change: %q mode %v", got, fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestWriteFileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.conf")
	link := filepath.Join(dir, "link.conf")
	if err := os.WriteFile(real, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFile(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v", err)
	}
	if got := readFile(t, real); got != "new" {
		t.Fatalf("target holds %q", got)
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing", "up.conf")
	_, err := WriteFile(p, []byte("new"))
	if err == nil || !strings.Contains(err.Error(), "write "+p+": temporary file") {
		t.Fatalf("err = %v", err)
	}
}
