//go:build unix

package swarm

import "syscall"

// lsdReuseAddr lets the BEP 14 port be bound by every BitTorrent client on the machine at
// once (libtorrent sets the same option); each gets a copy of every multicast datagram.
func lsdReuseAddr(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
