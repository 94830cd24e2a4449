package swarm

import (
	"sync"
	"sync/atomic"

	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// peerWireState is what a peer told us on the wire about choking and
// interest. The library keeps this private, so we watch the messages.
type peerWireState struct {
	choking    atomic.Bool // the peer is choking us (the protocol starts choked)
	interested atomic.Bool // the peer wants our pieces
}

// peerStates maps live connections to their wire state.
type peerStates struct{ m sync.Map }

func (ps *peerStates) get(pc *torrent.PeerConn) *peerWireState {
	if v, ok := ps.m.Load(pc); ok {
		return v.(*peerWireState)
	}
	s := &peerWireState{}
	s.choking.Store(true)
	v, _ := ps.m.LoadOrStore(pc, s)
	return v.(*peerWireState)
}

// onMessage runs with the library's lock held: it must not block.
func (ps *peerStates) onMessage(pc *torrent.PeerConn, msg *pp.Message) {
	if msg.Keepalive {
		return
	}
	switch msg.Type {
	case pp.Choke:
		ps.get(pc).choking.Store(true)
	case pp.Unchoke:
		ps.get(pc).choking.Store(false)
	case pp.Interested:
		ps.get(pc).interested.Store(true)
	case pp.NotInterested:
		ps.get(pc).interested.Store(false)
	case pp.Bitfield:
		if info := pc.Torrent().Info(); info != nil && !validBitfield(msg.Bitfield, info.NumPieces()) {
			// BEP 3 says to drop a peer whose bitfield has the wrong
			// length or spare bits set; the library would ignore the
			// excess and keep it. Keepalive makes the library skip it.
			msg.Keepalive = true
			go pc.Close() // Close takes the lock we are called under
		}
	}
}

// validBitfield reports whether bf (whole bytes, as decoded) is the right
// length for numPieces with its spare bits clear.
func validBitfield(bf []bool, numPieces int) bool {
	if len(bf) != (numPieces+7)/8*8 {
		return false
	}
	for _, has := range bf[numPieces:] {
		if has {
			return false
		}
	}
	return true
}

// peek reads a connection's state without recording it, so a connection
// closed meanwhile leaves nothing behind.
func (ps *peerStates) peek(pc *torrent.PeerConn) (choking, interested bool) {
	if v, ok := ps.m.Load(pc); ok {
		s := v.(*peerWireState)
		return s.choking.Load(), s.interested.Load()
	}
	return true, false
}

func (ps *peerStates) forget(pc *torrent.PeerConn) { ps.m.Delete(pc) }

// maxFoundPeers bounds the per-torrent record of peers ever connected, so a
// torrent in a huge swarm cannot grow it without end.
const maxFoundPeers = 10_000

// foundPeers records, per torrent, each peer address ever connected and how
// it was found (tracker, DHT, PEX, LSD, incoming, direct). Connections can
// be shorter than a snapshot interval, so this is fed by the library's
// connection callback rather than by sampling.
type foundPeers struct{ m sync.Map } // metainfo.Hash → *peerSourceLog

type peerSourceLog struct {
	mu    sync.Mutex
	addrs map[string]string
}

func (fp *foundPeers) onConnAdded(pc *torrent.PeerConn) {
	ih := pc.Torrent().InfoHash()
	v, _ := fp.m.LoadOrStore(ih, &peerSourceLog{addrs: map[string]string{}})
	log := v.(*peerSourceLog)
	addr := pc.RemoteAddr.String()
	log.mu.Lock()
	if _, ok := log.addrs[addr]; ok || len(log.addrs) < maxFoundPeers {
		log.addrs[addr] = sourceName(pc.Discovery)
	}
	log.mu.Unlock()
}

// counts returns how many distinct peers came from each source.
func (fp *foundPeers) counts(ih any) map[string]int {
	out := map[string]int{}
	v, ok := fp.m.Load(ih)
	if !ok {
		return out
	}
	log := v.(*peerSourceLog)
	log.mu.Lock()
	for _, src := range log.addrs {
		out[src]++
	}
	log.mu.Unlock()
	return out
}

func (fp *foundPeers) forget(ih any) { fp.m.Delete(ih) }

// Availability returns, for each piece of a torrent, how many connected
// peers have it. It walks every peer's bitfield, so callers ask for it only
// when they show it (the UI's piece map), not on every snapshot.
func (e *Engine) Availability(infohash string) ([]uint16, error) {
	m, err := e.get(infohash)
	if err != nil {
		return nil, err
	}
	if m.t.Info() == nil {
		return nil, nil
	}
	avail := make([]uint16, m.t.NumPieces())
	for _, pc := range m.t.PeerConns() {
		it := pc.PeerPieces().Iterator()
		for it.HasNext() {
			if i := int(it.Next()); i < len(avail) && avail[i] < ^uint16(0) {
				avail[i]++
			}
		}
	}
	return avail, nil
}
