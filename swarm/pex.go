package swarm

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// pexGuard bounds what peer exchange (BEP 11) takes in. The library hands every address of
// a ut_pex message (up to 64 KiB, ≈10,000 addresses) to the torrent, and keeps per
// connection every address the peer listed as added and not yet dropped, with no bound
// (it uses that record to pick BEP 55 holepunch relays, so we keep the library's handler).
//
// Our callback sees each ut_pex message just before the library does. A message over the
// caps, or one that would take the peer's list of live connections past
// PEXMaxLivePerConn, is spoilt in place: its first byte is overwritten, the library's
// decoder refuses it, and the library closes the connection, as it does for any malformed
// message. Nothing of it reaches the torrent. (Callbacks get the library's own buffer;
// TestPEXDropsOversizedLists fails if that ever stops being true.) Private torrents and
// too frequent messages the library already refuses itself.
type pexGuard struct {
	limits DiscoveryLimits

	mu   sync.Mutex
	live map[*torrent.PeerConn]map[netip.AddrPort]struct{} // per connection: added minus dropped

	accepted  atomic.Int64
	tooLarge  atomic.Int64
	tooMany   atomic.Int64
	tooLive   atomic.Int64
	malformed atomic.Int64
}

func newPEXGuard(l DiscoveryLimits) *pexGuard {
	return &pexGuard{limits: l, live: make(map[*torrent.PeerConn]map[netip.AddrPort]struct{})}
}

func (g *pexGuard) onPeerClosed(p *torrent.Peer) {
	if pc, ok := p.TryAsPeerConn(); ok {
		g.mu.Lock()
		delete(g.live, pc)
		g.mu.Unlock()
	}
}

// onExtensionMessage runs in the connection's read loop with the client lock held, before
// the library's own handler: it must be quick and must not call into the client.
func (g *pexGuard) onExtensionMessage(ev torrent.PeerConnReadExtensionMessageEvent) {
	pc := ev.PeerConn
	if pc.LocalLtepProtocolMap == nil {
		return
	}
	name, _, err := pc.LocalLtepProtocolMap.LookupId(ev.ExtensionNumber)
	if err != nil || name != pp.ExtensionNamePex {
		return
	}
	msg, err := parsePEX(ev.Payload, g.limits)
	switch {
	case errors.Is(err, errPEXTooLarge):
		g.tooLarge.Add(1)
	case errors.Is(err, errPEXTooMany):
		g.tooMany.Add(1)
	case err != nil:
		g.malformed.Add(1) // the library refuses it too
		return
	}
	if err == nil && !g.track(pc, msg) {
		g.tooLive.Add(1)
		err = errPEXTooMany
	}
	if err != nil {
		spoil(ev.Payload)
		return
	}
	g.accepted.Add(1)
}

// track applies a message to the connection's live list; false means it would exceed
// PEXMaxLivePerConn (the connection is about to close, so its entry goes).
func (g *pexGuard) track(pc *torrent.PeerConn, msg pp.PexMsg) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.live[pc]
	if set == nil {
		set = make(map[netip.AddrPort]struct{})
		g.live[pc] = set
	}
	for _, list := range [][]krpc.NodeAddr{msg.Dropped, msg.Dropped6} {
		for _, na := range list {
			if ap, ok := pexAddr(na); ok {
				delete(set, ap)
			}
		}
	}
	for _, list := range [][]krpc.NodeAddr{msg.Added, msg.Added6} {
		for _, na := range list {
			if ap, ok := pexAddr(na); ok {
				set[ap] = struct{}{}
			}
		}
	}
	if len(set) > g.limits.PEXMaxLivePerConn {
		delete(g.live, pc)
		return false
	}
	return true
}

// spoil makes a message undecodable for the library: a bencoded dictionary starts with 'd'.
func spoil(payload []byte) {
	if len(payload) > 0 {
		payload[0] = 'x'
	}
}

var (
	errPEXTooLarge = errors.New("ut_pex message too large")
	errPEXTooMany  = errors.New("ut_pex message lists too many peers")
)

// parsePEX decodes a ut_pex message the way the library will, and checks it against the
// size and count caps.
func parsePEX(payload []byte, l DiscoveryLimits) (msg pp.PexMsg, err error) {
	if len(payload) > l.PEXMaxMessageBytes {
		return msg, fmt.Errorf("%w: %d bytes", errPEXTooLarge, len(payload))
	}
	defer func() {
		// The library's compact-address decoders have panicked on short input before
		// (see dhtConn); this runs in a peer's read loop.
		if r := recover(); r != nil {
			err = fmt.Errorf("ut_pex: decoder panicked: %v", r)
		}
	}()
	msg, err = pp.LoadPexMsg(payload)
	if err != nil {
		return msg, fmt.Errorf("ut_pex: %w", err)
	}
	if n := len(msg.Added) + len(msg.Added6); n > l.PEXMaxPeersPerMessage {
		return msg, fmt.Errorf("%w: %d", errPEXTooMany, n)
	}
	return msg, nil
}

// pexAddr is a listed address as a map key; unusable ones (port 0, no IP) are skipped.
func pexAddr(na krpc.NodeAddr) (netip.AddrPort, bool) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(na.Port)), true
}

// pexStats is for tests.
type pexStats struct{ Accepted, TooLarge, TooMany, TooLive, Malformed int64 }

func (g *pexGuard) stats() pexStats {
	return pexStats{g.accepted.Load(), g.tooLarge.Load(), g.tooMany.Load(), g.tooLive.Load(), g.malformed.Load()}
}
