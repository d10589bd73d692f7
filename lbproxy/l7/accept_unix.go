//go:build unix

package l7

import "syscall"

// errTooManyFiles is the accept error of a process out of descriptors.
var errTooManyFiles = syscall.EMFILE
