//go:build linux

package utp

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"time"
)

// startReader reads with non-blocking recvfrom straight from the descriptor, so the loop
// knows when the socket is drained: that is when the ACKs for a burst go out, one per
// connection, as libtorrent does.
func (s *socket) startReader() {
	if s.udp != nil {
		if rc, err := s.udp.SyscallConn(); err == nil {
			go s.rawReadLoop(rc)
			return
		}
	}
	go s.readLoop()
}

func (s *socket) rawReadLoop(rc syscall.RawConn) {
	buf := make([]byte, maxDatagram+1)
	var oob [64]byte
	for {
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			for {
				n, oobn, _, from, err := syscall.Recvmsg(int(fd), buf, oob[:], syscall.MSG_DONTWAIT)
				switch {
				case err == syscall.EAGAIN:
					s.drained()
					return false
				case err == syscall.EINTR:
					continue
				case err == syscall.ECONNREFUSED || err == syscall.EHOSTUNREACH || err == syscall.ENETUNREACH:
					// An ICMP error for something we sent (IP_RECVERR is on): the
					// error queue says for which address.
					for _, ap := range s.drainErrQueue(int(fd)) {
						s.unreachable(ap)
					}
					continue
				case err != nil:
					rerr = err
					return true
				}
				ap, now := sockaddrAddrPort(from), time.Now()
				seg := 0
				if s.gro && oobn > 0 {
					seg = groSegment(oob[:oobn])
				}
				if seg <= 0 || seg >= n {
					s.handleDatagram(buf[:n], ap, now)
					continue
				}
				// A coalesced run: equal-sized datagrams, the last maybe shorter.
				for b := buf[:n]; len(b) > 0; {
					k := min(seg, len(b))
					s.handleDatagram(b[:k], ap, now)
					b = b[k:]
				}
			}
		})
		if err == nil {
			err = rerr
		}
		if err != nil && s.readFailed(err) {
			return
		}
		if errors.Is(err, syscall.EBADF) {
			s.shutdown(err)
			return
		}
	}
}

func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// drainErrQueue reads the ICMP errors queued on the socket (IP_RECVERR) and returns the
// addresses that answered port unreachable: nothing listens there any more, so connections
// to them can fail at once instead of after a minute of retransmissions (a peer killed with
// -9), and a dial to a closed port fails in a millisecond, as a TCP dial would.
func (s *socket) drainErrQueue(fd int) (gone []netip.AddrPort) {
	var buf [1]byte
	var oob [512]byte
	for range 64 {
		_, oobn, _, from, err := syscall.Recvmsg(fd, buf[:], oob[:], syscall.MSG_ERRQUEUE|syscall.MSG_DONTWAIT)
		if err != nil {
			return gone
		}
		if errno := icmpErrno(oob[:oobn]); errno == syscall.ECONNREFUSED {
			gone = append(gone, sockaddrAddrPort(from))
		}
	}
	return gone
}

// icmpErrno returns ee_errno of the sock_extended_err in an error-queue message.
func icmpErrno(oob []byte) syscall.Errno {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if (m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_RECVERR) ||
			(m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_RECVERR) {
			if len(m.Data) >= 4 {
				return syscall.Errno(binary.NativeEndian.Uint32(m.Data))
			}
		}
	}
	return 0
}
