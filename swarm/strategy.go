package swarm

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/types"

	"shoal/internal/byterate"
)

// Strategy is how an engine shares pieces in a swarm: whom it uploads to
// while it downloads, which pieces it asks for first, and how many requests
// it keeps waiting at each peer. The zero value is the default; the effect
// of each field is measured in bench/swarm/RESULTS.md.
type Strategy struct {
	// Cooperative uploads to every peer while still downloading: for a
	// recipient that means to give back (get --seed, a fleet receiving a
	// folder from `shoal seed`). Off, a torrent that is still downloading
	// uploads to a peer only while that peer gives back (tit-for-tat), so a
	// free-rider gets little; a complete torrent uploads to everyone either
	// way. Cooperative recipients finish a one-seed swarm sooner (the ones
	// ahead keep feeding the ones behind) but also feed free-riders.
	Cooperative bool
	// NoStripes turns striping off. With striping, each downloading shoal
	// peer ranks itself among the downloading shoal peers it is connected to
	// (rank k of n, the same order at every peer) and asks first for its
	// stripe, the pieces i with i mod n == k. The seed then sends its first
	// copies to different recipients, and every recipient soon has pieces
	// the others want.
	NoStripes bool
	// PieceWindow bounds how many bytes of wanted pieces, in the library's
	// order (priority, then rarest first), are considered for requests:
	// its MaxUnverifiedBytes. 0 considers every wanted piece. The library's
	// 64 MiB default hides pieces that other recipients already hold (they
	// sort after the rare ones), so recipients barely trade at first.
	PieceWindow int64
	// NoPacing keeps up to what each peer allows requested from it (250 to
	// 1024 blocks of 16 KiB). With pacing, the queue of requests at each
	// peer grows while blocks come back within RequestQueueDelay of the
	// fastest seen on that connection and shrinks when they wait longer.
	NoPacing bool
	// RequestQueueDelay is the queueing delay pacing allows; 0 means 50 ms.
	RequestQueueDelay time.Duration
	// PreferTCP gives TCP the head start that uTP has by default (dial.go),
	// so peers that accept TCP connect over it; uTP stays on for peers that
	// only answer uTP, and incoming uTP is accepted. For
	// sending a folder across a network at the links' rate: LEDBAT yields
	// to other traffic by design, and our uTP costs more CPU than kernel
	// TCP (a third more per recipient in bench/swarm/RESULTS.md).
	PreferTCP bool

	// The rest are for experiments (SHOAL_STRATEGY), not configuration.
	maxRequests int    // a fixed cap on requests per peer instead of pacing
	keepDupes   bool   // keep both connections when two peers dial each other
	trace       string // a folder for per-second JSON lines about every peer
}

const defaultRequestQueueDelay = 50 * time.Millisecond

// strategyEnv overrides strategy fields for experiments, as comma-separated
// key=value pairs, for example
// SHOAL_STRATEGY=cooperative,stripes=0,window=64M,pace=100ms,tcp=0. The swarm
// benchmark uses it for its ablations.
const strategyEnv = "SHOAL_STRATEGY"

// effectiveStrategy is cfg.Strategy with the SHOAL_STRATEGY overrides
// applied. New resolves it once, into Engine.strategy.
func effectiveStrategy(cfg Config) Strategy {
	s := cfg.Strategy
	if v := os.Getenv(strategyEnv); v != "" {
		o, err := parseStrategy(s, v)
		if err != nil {
			cfg.Logger.Warn("ignoring "+strategyEnv, "err", err)
			return s
		}
		s = o
	}
	return s
}

// parseStrategy applies key=value overrides to s.
func parseStrategy(s Strategy, v string) (Strategy, error) {
	for kv := range strings.SplitSeq(v, ",") {
		k, val, hasVal := strings.Cut(strings.TrimSpace(kv), "=")
		if k == "" {
			continue
		}
		flag := func() (bool, error) {
			if !hasVal {
				return true, nil
			}
			return strconv.ParseBool(val)
		}
		var err error
		var on bool
		switch k {
		case "cooperative", "coop":
			s.Cooperative, err = flag()
		case "stripes":
			on, err = flag()
			s.NoStripes = !on
		case "window":
			s.PieceWindow, err = byterate.Parse(val)
		case "pace":
			// pace=0 (or pace=false) turns pacing off; a duration sets the delay.
			if on, err = strconv.ParseBool(val); err == nil {
				s.NoPacing = !on
			} else if s.RequestQueueDelay, err = time.ParseDuration(val); err == nil {
				s.NoPacing = s.RequestQueueDelay <= 0
			}
		case "reqq":
			s.maxRequests, err = strconv.Atoi(val)
		case "tcp":
			s.PreferTCP, err = flag()
		case "dedup":
			on, err = flag()
			s.keepDupes = !on
		case "trace":
			s.trace = val
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return s, fmt.Errorf("%q: %w", kv, err)
		}
	}
	return s, nil
}

// configureStrategy sets the library knobs that decide how a swarm shares
// pieces.
func (e *Engine) configureStrategy(tc *torrent.ClientConfig) {
	s := e.strategy
	tc.MaxUnverifiedBytes = s.PieceWindow
	// Choking (see doc.go): a torrent still downloading uploads to a peer
	// only while that peer gives back, unless cooperative.
	tc.DisableAggressiveUpload = !s.Cooperative
	// Two peers that dial each other at once keep one connection, the same
	// one at both ends, instead of splitting their requests over two.
	tc.DropDuplicatePeerIds = !s.keepDupes
	switch {
	case s.maxRequests > 0:
		n := s.maxRequests
		tc.Callbacks.ReadExtendedHandshake = func(_ *torrent.PeerConn, h *pp.ExtendedHandshakeMessage) {
			if h.Reqq <= 0 || h.Reqq > n {
				h.Reqq = n
			}
		}
	case !s.NoPacing:
		d := s.RequestQueueDelay
		if d <= 0 {
			d = defaultRequestQueueDelay
		}
		newRequestPacer(d).install(tc)
	}
}

// applyStrategy runs once a torrent's storage is open and its file
// priorities are set, before downloading starts.
func (m *managed) applyStrategy() {
	s := m.e.strategy
	if s.trace != "" && !m.t.Complete().Bool() {
		m.e.wg.Add(1)
		go func() {
			defer m.e.wg.Done()
			m.traceLoop(s.trace)
		}()
	}
	m.e.wg.Add(1)
	go func() {
		defer m.e.wg.Done()
		m.watchFiles()
	}()
	if s.NoStripes {
		return
	}
	m.e.wg.Add(1)
	go func() {
		defer m.e.wg.Done()
		m.stripeLoop(stripeInterval)
	}()
}

// ---------------------------------------------------------------- stripes

// A recipient recomputes its stripe from the peers it is connected to
// every stripeInterval while the swarm forms, then every stripeIntervalLater.
const (
	stripeInterval      = 200 * time.Millisecond
	stripeIntervalLater = time.Second
	stripeSettle        = 10 * time.Second
)

// shoalPeerPrefix starts every shoal peer ID (Bep20 "-SH0001-").
var shoalPeerPrefix = []byte("-SH")

// stripe is one recipient's share: the pieces i with i % n == k.
type stripe struct{ k, n int }

// stripeRank places self among members (self may or may not be listed).
// Every member that sees the same set of peers computes the same order, so
// the ranks are distinct without anyone coordinating. The order is by a
// hash of infohash and peer ID, so a peer's rank differs between torrents.
func stripeRank(ih [20]byte, self types.PeerID, members []types.PeerID) stripe {
	type ranked struct {
		key [20]byte
		id  types.PeerID
	}
	key := func(id types.PeerID) ranked {
		h := sha1.New()
		h.Write(ih[:])
		h.Write(id[:])
		return ranked{[20]byte(h.Sum(nil)), id}
	}
	rs := make([]ranked, 0, len(members)+1)
	rs = append(rs, key(self))
	for _, id := range members {
		if id != self {
			rs = append(rs, key(id))
		}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	rs = slices.CompactFunc(rs, func(a, b ranked) bool { return a.id == b.id })
	k := slices.IndexFunc(rs, func(r ranked) bool { return r.id == self })
	return stripe{k: k, n: len(rs)}
}

// stripeMembers lists the connected shoal peers that still download. Other
// clients do not stripe, so counting them would leave stripes nobody asks
// for first.
func (m *managed) stripeMembers() []types.PeerID {
	numPieces := uint64(m.t.NumPieces())
	var ids []types.PeerID
	for _, pc := range m.t.PeerConns() {
		if !bytes.HasPrefix(pc.PeerID[:], shoalPeerPrefix) {
			continue
		}
		if pc.PeerPieces().GetCardinality() >= numPieces {
			continue // a seed
		}
		ids = append(ids, pc.PeerID)
	}
	return ids
}

// stripeLoop keeps this recipient's stripe of pieces at high priority
// while it downloads, following the set of peers it sees. It returns when
// the torrent is complete or removed.
func (m *managed) stripeLoop(every time.Duration) {
	t := m.t
	self := m.e.cl.PeerID()
	raised := make([]bool, t.NumPieces())
	var cur stripe
	tick := time.NewTicker(every)
	defer tick.Stop()
	settled := time.After(stripeSettle)
	for !t.Complete().Bool() {
		st := stripeRank(m.ih, self, m.stripeMembers())
		if st.n < 2 {
			st = stripe{}
		}
		if st != cur {
			cur = st
			m.setStripe(st, raised)
		}
		select {
		case <-m.ctx.Done():
			return
		case <-t.Complete().On():
			return
		case <-settled:
			tick.Reset(max(every, stripeIntervalLater))
		case <-tick.C:
		}
	}
}

// setStripe raises the priority of the stripe's wanted, incomplete pieces
// and drops the raise from the others. A piece's own priority only ever
// raises what its files ask for, so skipped files stay skipped.
func (m *managed) setStripe(st stripe, raised []bool) {
	t := m.t
	wanted := make([]bool, len(raised))
	for _, f := range t.Files() {
		if f.Priority() == types.PiecePriorityNone {
			continue
		}
		for i := f.BeginPieceIndex(); i < f.EndPieceIndex() && i < len(wanted); i++ {
			wanted[i] = true
		}
	}
	for i := range raised {
		want := st.n > 1 && wanted[i] && i%st.n == st.k
		if want == raised[i] {
			continue
		}
		p := t.Piece(i)
		if want && p.State().Complete {
			continue
		}
		raised[i] = want
		if want {
			p.SetPriority(types.PiecePriorityHigh)
		} else {
			p.SetPriority(types.PiecePriorityNone)
		}
	}
}

// ---------------------------------------------------------------- pacing

// requestPacer sizes each connection's queue of block requests. The
// library keeps up to what a peer allows (its reqq, typically 250 to 1024
// blocks of 16 KiB) requested from each peer. In a swarm whose uploaders
// each serve many requesters over slow links that is many seconds of
// queue: a block waits at a busy uploader while other peers that have it
// sit idle, and the end game steals blocks already on the wire. The pacer
// works like a delay-based congestion window: it doubles a connection's
// queue while its blocks arrive within half of queueDelay of the fastest
// seen on it, grows it slowly within queueDelay, and cuts it by a quarter
// beyond. A single fast peer far away still gets a queue that covers its
// rate times its round trip.
type requestPacer struct {
	queueDelay time.Duration
	now        func() time.Time

	mu    sync.Mutex
	conns map[*torrent.Peer]*pacedConn
}

type pacedConn struct {
	allowed int // what the peer accepts (its reqq)
	depth   int
	sent    map[types.Request]time.Time
	base    time.Duration // the shortest request delay seen
	sum     time.Duration // delays since the last adjustment
	n       int
	since   time.Time
}

const (
	paceMinDepth     = 4
	paceInitialDepth = 32
	paceInterval     = 250 * time.Millisecond
	// libraryDefaultReqq is what the library assumes of a peer that does
	// not say how many requests it accepts.
	libraryDefaultReqq = 250
)

func newRequestPacer(queueDelay time.Duration) *requestPacer {
	return &requestPacer{queueDelay: queueDelay, now: time.Now, conns: map[*torrent.Peer]*pacedConn{}}
}

// install hooks the pacer into the library's callbacks. They all run with
// the client lock held, which is what makes writing PeerMaxRequests safe.
func (rp *requestPacer) install(tc *torrent.ClientConfig) {
	cb := &tc.Callbacks
	cb.ReadExtendedHandshake = func(pc *torrent.PeerConn, h *pp.ExtendedHandshakeMessage) {
		rp.onHandshake(&pc.Peer, h)
	}
	cb.SentRequest = append(cb.SentRequest, rp.onSent)
	cb.ReceivedRequested = append(cb.ReceivedRequested, rp.onReceived)
	cb.DeletedRequest = append(cb.DeletedRequest, rp.onDeleted)
	cb.PeerClosed = append(cb.PeerClosed, rp.onClosed)
}

func (rp *requestPacer) conn(p *torrent.Peer) *pacedConn {
	c := rp.conns[p]
	if c == nil {
		c = &pacedConn{allowed: libraryDefaultReqq, depth: paceInitialDepth, sent: map[types.Request]time.Time{}}
		rp.conns[p] = c
	}
	return c
}

// onHandshake runs before the library applies the peer's reqq, so what is
// left there becomes the connection's request limit.
func (rp *requestPacer) onHandshake(p *torrent.Peer, h *pp.ExtendedHandshakeMessage) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	c := rp.conn(p)
	if h.Reqq > 0 {
		c.allowed = h.Reqq
	}
	c.depth = min(c.depth, c.allowed)
	h.Reqq = c.depth
}

func (rp *requestPacer) onSent(ev torrent.PeerRequestEvent) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	c := rp.conn(ev.Peer)
	if len(c.sent) < 4*c.allowed {
		c.sent[ev.Request] = rp.now()
	}
}

func (rp *requestPacer) onDeleted(ev torrent.PeerRequestEvent) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if c := rp.conns[ev.Peer]; c != nil {
		delete(c.sent, ev.Request)
	}
}

func (rp *requestPacer) onClosed(p *torrent.Peer) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	delete(rp.conns, p)
}

func (rp *requestPacer) onReceived(ev torrent.PeerMessageEvent) {
	msg := ev.Message
	req := types.Request{Index: msg.Index, ChunkSpec: types.ChunkSpec{Begin: msg.Begin, Length: pp.Integer(len(msg.Piece))}}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	c := rp.conns[ev.Peer]
	if c == nil {
		return
	}
	depth, changed := c.received(req, rp.now(), rp.queueDelay)
	if !changed {
		return
	}
	if pc, ok := ev.Peer.TryAsPeerConn(); ok {
		pc.PeerMaxRequests = depth
	}
}

// received accounts for a requested block that arrived and, every
// paceInterval, adjusts the queue depth.
func (c *pacedConn) received(req types.Request, now time.Time, queueDelay time.Duration) (depth int, changed bool) {
	at, ok := c.sent[req]
	if !ok {
		return c.depth, false
	}
	delete(c.sent, req)
	d := now.Sub(at)
	if c.base == 0 || d < c.base {
		c.base = d
	}
	c.sum += d
	c.n++
	if c.since.IsZero() {
		c.since = now
	}
	if now.Sub(c.since) < paceInterval || c.n < 4 {
		return c.depth, false
	}
	avg := c.sum / time.Duration(c.n)
	old := c.depth
	switch {
	case avg > c.base+queueDelay:
		c.depth = max(paceMinDepth, c.depth-max(1, c.depth/4))
	case avg < c.base+queueDelay/2:
		c.depth *= 2 // far from queueing: find the peer's rate quickly
	default:
		c.depth += max(1, c.depth/8)
	}
	c.depth = max(min(c.depth, c.allowed), min(paceMinDepth, c.allowed))
	c.sum, c.n, c.since = 0, 0, now
	return c.depth, c.depth != old
}

// ---------------------------------------------------------------- trace

// traceLoop writes a JSON line per second about every peer connection to
// a file named after the listen address in dir (SHOAL_STRATEGY=trace=DIR).
// It is for diagnosing the swarm benchmark.
func (m *managed) traceLoop(dir string) {
	name := strings.NewReplacer(":", "_", "[", "", "]", "").Replace(m.e.ListenAddr())
	f, err := os.Create(filepath.Join(dir, name+".jsonl"))
	if err != nil {
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	type peer struct {
		Addr, Src             string
		Has                   uint64
		Read, Wasted, Written int64
	}
	for {
		st := m.t.Stats()
		rec := struct {
			T      float64
			Done   int64
			Wasted int64
			Peers  []peer
		}{T: time.Since(start).Seconds(), Done: m.t.BytesCompleted(), Wasted: st.ChunksReadWasted.Int64()}
		for _, pc := range m.t.PeerConns() {
			ps := pc.Stats()
			rec.Peers = append(rec.Peers, peer{pc.RemoteAddr.String(), string(pc.Discovery), pc.PeerPieces().GetCardinality(),
				ps.BytesReadUsefulData.Int64(), ps.ChunksReadWasted.Int64(), ps.BytesWrittenData.Int64()})
		}
		enc.Encode(rec)
		if m.t.Complete().Bool() {
			return
		}
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
	}
}
