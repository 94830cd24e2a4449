//go:build !unix

package swarm

import "syscall"

// lsdReuseAddr: elsewhere the port is bound without sharing; another client holding it
// leaves LSD off with a logged reason.
func lsdReuseAddr(network, address string, c syscall.RawConn) error { return nil }
