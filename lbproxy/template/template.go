package template

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	gotemplate "text/template"
)

// Template is one --template IN:OUT: a parsed source file and the file it
// renders to.
type Template struct {
	Source string // as given: errors name it, with the line
	Dest   string
	t      *gotemplate.Template
	b      *binding
}

// ParseSpec splits a --template value, IN:OUT.
func ParseSpec(spec string) (src, dest string, err error) {
	src, dest, ok := strings.Cut(spec, ":")
	if !ok || src == "" || dest == "" || strings.Contains(dest, ":") {
		return "", "", fmt.Errorf("invalid --template %q: want IN:OUT, the template file and the file to write (paths without ':')", spec)
	}
	return src, dest, nil
}

// Load reads and parses the template src, which renders to dest. A
// syntax error, or a function that does not exist, is reported with the
// file and line. dest's directory must exist.
func Load(src, dest string) (*Template, error) {
	text, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	b := &binding{}
	t, err := gotemplate.New(src).Option("missingkey=error").Funcs(b.funcs()).Parse(string(text))
	if err != nil {
		return nil, fmt.Errorf("cannot parse template %w", tmplError{err})
	}
	if err := checkDest(dest); err != nil {
		return nil, err
	}
	return &Template{Source: src, Dest: dest, t: t, b: b}, nil
}

func checkDest(dest string) error {
	dir := filepath.Dir(dest)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("output directory %s of %s does not exist: create it first", dir, dest)
	}
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		return fmt.Errorf("output %s is a directory: name a file", dest)
	}
	return nil
}

// Render executes the template over v. An error names the file, line
// and column, and the call that failed.
func (t *Template) Render(v *View) ([]byte, error) {
	t.b.v = v
	defer func() { t.b.v = nil }()
	var buf bytes.Buffer
	if err := t.t.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("render %w", tmplError{err})
	}
	return buf.Bytes(), nil
}

// tmplError drops text/template's "template: " prefix: the message then
// starts with FILE:LINE.
type tmplError struct{ err error }

func (e tmplError) Error() string { return strings.TrimPrefix(e.err.Error(), "template: ") }
func (e tmplError) Unwrap() error { return e.err }

// LoadAll loads every --template spec; two specs writing the same file are
// refused.
func LoadAll(specs []string) ([]*Template, error) {
	if len(specs) == 0 {
		return nil, errors.New("no --template given: want at least one IN:OUT")
	}
	var out []*Template
	seen := map[string]string{}
	for _, spec := range specs {
		src, dest, err := ParseSpec(spec)
		if err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(dest)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", dest, err)
		}
		if other, dup := seen[abs]; dup {
			return nil, fmt.Errorf("--template %s and --template %s write the same file %s: give each its own", other, spec, dest)
		}
		seen[abs] = spec
		t, err := Load(src, dest)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
