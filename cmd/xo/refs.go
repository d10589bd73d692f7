package main

import (
	"errors"
	"fmt"

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
