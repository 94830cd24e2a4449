//go:build unix

package atomicfile

import "syscall"

var errUnsupported error = syscall.EINVAL
