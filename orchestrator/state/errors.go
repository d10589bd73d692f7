package state

import "errors"

// Error classes at the store boundary, in the style of Docker's errdefs.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
)
