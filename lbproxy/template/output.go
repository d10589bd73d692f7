package template

import (
	"fmt"
	"io"
)

// output is where renders go: files, or a writer with --dry.
type output interface {
	// write stores a render and reports whether it differs from what
	// was there.
	write(t *Template, content []byte) (bool, error)
}

// files writes each render to its template's file (see WriteFile).
type files struct{}

func (files) write(t *Template, content []byte) (bool, error) { return WriteFile(t.Dest, content) }

// dry prints renders that differ from the last one printed.
type dry struct {
	w    io.Writer
	last map[*Template]string
}

func (d *dry) write(t *Template, content []byte) (bool, error) {
	if prev, ok := d.last[t]; ok && prev == string(content) {
		return false, nil
	}
	d.last[t] = string(content)
	if _, err := fmt.Fprintf(d.w, "> %s\n%s", t.Dest, content); err != nil {
		return false, fmt.Errorf("dry run: print %s: %w", t.Dest, err)
	}
	return true, nil
}
