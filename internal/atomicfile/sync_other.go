//go:build !unix

package atomicfile

import "errors"

var errUnsupported = errors.ErrUnsupported
