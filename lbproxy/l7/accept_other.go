//go:build !unix

package l7

import "errors"

var errTooManyFiles = errors.New("too many open files")
