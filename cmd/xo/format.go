package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"
)

// formatJSON is the --format value that asks for JSON.
const formatJSON = "json"

// formatHelp documents --format for the verbs that take it.
const formatHelp = `output format: "json", or a Go template such as '{{.Name}}'`

// formatter renders values the way --format asks: the verb's human form
// (empty format), JSON, or a Go template run once per value.
type formatter struct {
	format string
	tmpl   *template.Template
}

func newFormatter(format string) (*formatter, error) {
	f := &formatter{format: format}
	if format == "" || format == formatJSON {
		return f, nil
	}
	// Docker accepts \t and \n typed literally in a shell.
	text := strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	t, err := template.New("format").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid --format template: %w", err)
	}
	f.tmpl = t
	return f, nil
}

func (f *formatter) human() bool { return f.format == "" }
func (f *formatter) json() bool  { return f.format == formatJSON }

// execute runs the template on v and writes its output plus a newline.
func (f *formatter) execute(w io.Writer, v any) error {
	var buf bytes.Buffer
	if err := f.tmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// writeJSON writes v as indented JSON, as docker inspect does.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}
