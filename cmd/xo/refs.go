package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/xoverlay/xoverlay/orchestrator/api"
)

// forEach runs fn on each ref in turn. A ref that fails is reported and
// the others still run; an unreachable agent stops everything at once.
// kind names the objects in "no such KIND: REF".
func forEach(refs []string, kind string, fn func(ref string) error) error {
	var errs []error
	for _, ref := range refs {
		err := fn(ref)
		switch {
		case err == nil:
		case errors.Is(err, api.ErrUnreachable):
			return err
		case errors.Is(err, api.ErrNotFound):
			errs = append(errs, fmt.Errorf("no such %s: %s", kind, ref))
		default:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// inspect looks up every ref and prints the found objects like docker
// inspect: an indented JSON array, or the template once per object. Refs
// not found are reported after the found ones are printed.
func inspect[T any](cmd *cobra.Command, format, kind string, refs []string, get func(context.Context, string) (T, error)) error {
	f, err := newFormatter(format)
	if err != nil {
		return err
	}
	found := []T{}
	lookupErr := forEach(refs, kind, func(ref string) error {
		v, err := get(cmd.Context(), ref)
		if err == nil {
			found = append(found, v)
		}
		return err
	})
	if errors.Is(lookupErr, api.ErrUnreachable) {
		return lookupErr
	}
	w := cmd.OutOrStdout()
	if f.human() || f.json() {
		if err := writeJSON(w, found); err != nil {
			return err
		}
		return lookupErr
	}
	for _, v := range found {
		if err := f.execute(w, v); err != nil {
			return err
		}
	}
	return lookupErr
}
