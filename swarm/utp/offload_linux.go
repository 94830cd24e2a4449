//go:build linux

package utp

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"
)

// Linux UDP segmentation offloads (since 4.18 and 5.0): with UDP_SEGMENT one sendmsg
// carries a run of equal-sized datagrams that the kernel splits, and with UDP_GRO one
// recvmsg can return a run of them coalesced. A burst of uTP packets costs one system call
// instead of one each, the biggest cost of a user-space transport.
const (
	solUDP     = 17  // SOL_UDP
	udpSegment = 103 // UDP_SEGMENT
	udpGRO     = 104 // UDP_GRO
)

// initOffload turns on GRO and marks GSO as worth trying.
func (s *socket) initOffload() {
	if s.udp == nil {
		return
	}
	rc, err := s.udp.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), solUDP, udpGRO, 1) == nil {
			s.gro = true
		}
		// Probe UDP_SEGMENT support: the option exists as a socket option too.
		if syscall.SetsockoptInt(int(fd), solUDP, udpSegment, 0) == nil {
			s.gso.Store(true)
		}
		// ICMP errors (port unreachable) for what we send; read_linux.go acts on them.
		if s.ipv6 {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVERR, 1)
		} else {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_RECVERR, 1)
		}
	})
	s.rawConn = rc
}

func sockaddrOf(ap netip.AddrPort) syscall.Sockaddr {
	if ap.Addr().Is4() {
		return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// writeGSO sends buf as datagrams of seg bytes (the last may be shorter) in one call. It
// returns false if the kernel refused, and GSO is then off for the socket.
func (s *socket) writeGSO(buf []byte, seg int, to netip.AddrPort) bool {
	var oob [24]byte // CmsgSpace(2) on 64-bit; checked below
	space := syscall.CmsgSpace(2)
	if space > len(oob) {
		return false
	}
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = solUDP
	h.Type = udpSegment
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], uint16(seg))
	sa := s.localFamilySockaddr(to)
	var err error
	for try := 0; try < 2; try++ {
		var serr error
		err = s.rawConn.Write(func(fd uintptr) bool {
			_, serr = syscall.SendmsgN(int(fd), buf, oob[:space], sa, 0)
			return serr != syscall.EAGAIN
		})
		if err == nil {
			err = serr
		}
		if !s.asyncError(err) {
			break
		}
	}
	switch err {
	case nil:
		return true
	case syscall.EIO, syscall.EINVAL, syscall.EOPNOTSUPP, syscall.ENOPROTOOPT, syscall.EMSGSIZE:
		s.gso.Store(false)
		s.logger.Debug("utp: UDP GSO refused, sending datagrams one by one", "err", err)
		return false
	default:
		// Loss-like errors (no route, buffer full): the packets count as sent and lost.
		return true
	}
}

// localFamilySockaddr maps an IPv4 destination for an IPv6 socket.
func (s *socket) localFamilySockaddr(to netip.AddrPort) syscall.Sockaddr {
	if to.Addr().Is4() && s.ipv6 {
		return &syscall.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	}
	return sockaddrOf(to)
}

// groSegment returns the segment size of a coalesced read from its control messages, or 0.
func groSegment(oob []byte) int {
	for len(oob) >= syscall.CmsgLen(0) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < syscall.CmsgLen(0) || l > len(oob) {
			return 0
		}
		if h.Level == solUDP && h.Type == udpGRO && l >= syscall.CmsgLen(4) {
			return int(binary.NativeEndian.Uint32(oob[syscall.CmsgLen(0):]))
		}
		oob = oob[min(syscall.CmsgSpace(l-syscall.CmsgLen(0)), len(oob)):]
	}
	return 0
}
