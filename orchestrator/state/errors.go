package state

import (
	"errors"
	"strings"
)

// Error classes at the store boundary, in the style of Docker's errdefs.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
)

// Message is an error's text for people: without the leading class word
// ("conflict: ...") that the status code or the context already says.
func Message(err error) string {
	msg := err.Error()
	for _, c := range []error{ErrNotFound, ErrConflict, ErrInvalid} {
		if p := c.Error() + ": "; errors.Is(err, c) && strings.HasPrefix(msg, p) {
			return msg[len(p):]
		}
	}
	return msg
}
