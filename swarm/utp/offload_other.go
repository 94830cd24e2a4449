//go:build !linux

package utp

import "net/netip"

func (s *socket) initOffload() {}

func (s *socket) writeGSO(buf []byte, seg int, to netip.AddrPort) bool { return false }

func (s *socket) drainErrQueue(fd int) []netip.AddrPort { return nil }
