package swarm

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"

	"shoal/internal/textsafe"
)

// Snapshot is an immutable picture of the engine at one moment. Callers may
// keep it and read it from any goroutine; the engine never changes it.
type Snapshot struct {
	Time       time.Time
	Torrents   []TorrentView
	DownRate   float64 // bytes/s of piece data received, all torrents, smoothed
	UpRate     float64 // bytes/s of piece data sent, all torrents, smoothed
	ListenAddr string  // where peers reach us
	DHTNodes   int     // nodes in the DHT routing table (all DHT servers)
	DHTGood    int     // of those, nodes that answered recently
	UTP        bool    // whether uTP connections are available in this build
}

// State of a torrent.
type State string

const (
	StateMetadata    State = "metadata"    // waiting for the info dictionary from peers
	StateChecking    State = "checking"    // hashing data on disk
	StateDownloading State = "downloading" // wanted pieces missing
	StateSeeding     State = "seeding"     // every wanted piece verified
	StatePaused      State = "paused"
	StateError       State = "error" // Err says why; verified pieces are kept
)

// TorrentView is one torrent in a Snapshot.
type TorrentView struct {
	InfoHash string // v1, hex
	Name     string // terminal-safe
	State    State
	Err      string // terminal-safe, set in StateError
	// Warning is a problem that did not stop the torrent, such as a file
	// changed on disk after it was verified (terminal-safe).
	Warning string
	DataDir string // the folder the torrent's name lives in
	Magnet  string
	Private bool

	HasInfo     bool
	Size        int64 // total bytes, 0 until metadata
	Wanted      int64 // bytes of files not skipped
	Done        int64 // verified bytes
	PieceLength int64
	NumPieces   int
	// PiecesHashing counts pieces queued for or being hashed: data on disk
	// being checked at start, or pieces just downloaded.
	PiecesHashing int

	Hashed     int64   // bytes hashed this session (checking and verifying)
	Downloaded int64   // piece bytes received this session
	Uploaded   int64   // piece bytes sent this session
	DownRate   float64 // bytes/s, smoothed
	UpRate     float64 // bytes/s, smoothed
	Ratio      float64 // Uploaded / Size (or / Downloaded before metadata)
	ETA        time.Duration
	ETAKnown   bool

	PeersConnected int
	PeersKnown     int // connected plus addresses waiting to be dialled
	Seeds          int // connected peers that have every piece
	// PeerSources counts connected peers by how we found them: "tracker",
	// "dht", "pex", "lsd", "incoming", "direct", "holepunch", "other".
	PeerSources map[string]int
	// PeersFound counts every distinct peer connected since the torrent
	// was added, by the same sources.
	PeersFound map[string]int

	AddedAt     time.Time
	CompletedAt time.Time // zero until every wanted piece is verified

	Peers    []PeerView
	Pieces   []PieceState // one per piece; nil until metadata
	Files    []FileView
	Trackers []TrackerView
}

// Complete reports whether every wanted piece is verified.
func (t *TorrentView) Complete() bool { return t.HasInfo && t.Done >= t.Wanted && t.NumPieces > 0 }

// PieceState of one piece, for the piece map.
type PieceState uint8

const (
	PieceMissing  PieceState = iota
	PiecePartial             // some blocks received or being hashed
	PieceComplete            // verified
	PieceSkipped             // in no wanted file
)

// PeerView is one connected peer.
type PeerView struct {
	Addr      string
	Client    string // from the extension handshake, terminal-safe
	Source    string // see TorrentView.PeerSources
	Incoming  bool
	Encrypted bool // RC4 or header-encrypted (MSE)
	UTP       bool
	Seed      bool
	Progress  float64 // 0..1 of the pieces the peer has
	DownRate  float64 // bytes/s we receive from it, smoothed
	UpRate    float64 // bytes/s we send to it, smoothed
	// Downloaded and Uploaded are piece bytes received from and sent to it
	// on this connection.
	Downloaded int64
	Uploaded   int64
	// PeerChoking and PeerInterested are what the peer last said on the
	// wire. Our own choke and interest toward it are not exposed by the
	// library, so they are not here.
	PeerChoking    bool
	PeerInterested bool
}

// FileView is one file of a torrent.
type FileView struct {
	Index    int
	Path     string // inside the torrent, '/'-separated, terminal-safe
	Size     int64
	Done     int64 // bytes in verified pieces
	Priority Priority
}

// TrackerView is the state of announcing to one tracker.
type TrackerView struct {
	URL          string
	Status       string // waiting, announcing, ok, error
	LastError    string
	Seeders      int
	Leechers     int
	Peers        int // peers in the last reply
	LastAnnounce time.Time
	NextAnnounce time.Time
}

func safeString(s string) string { return textsafe.String(s) }

// Snapshot returns the latest snapshot. It never blocks on the library.
func (e *Engine) Snapshot() *Snapshot { return e.snap.Load() }

// Changed is signalled (never closed) after a new snapshot is published.
// It holds one pending signal, so a slow reader only skips intermediate ones.
func (e *Engine) Changed() <-chan struct{} { return e.changed }

func (e *Engine) publish(s *Snapshot) {
	e.snap.Store(s)
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// notify asks for a snapshot soon, after a state change (add, pause...).
func (e *Engine) notify() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Engine) sampleLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(e.cfg.SampleInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		case <-e.kick:
		}
		e.publish(e.sample(time.Now()))
	}
}

// rateState holds counters from the previous sample, to turn library
// counters (bytes so far) into rates.
type rateState struct {
	at        time.Time
	read      int64
	written   int64
	down, up  float64
	peers     map[string]peerRate
	initiated bool
}

type peerRate struct {
	read, written int64
	down, up      float64
}

// smoothing weight of the newest sample: about a 5-sample moving window.
const rateAlpha = 0.3

func ewma(prev, sample float64, first bool) float64 {
	if first {
		return sample
	}
	return prev + rateAlpha*(sample-prev)
}

func (e *Engine) sample(now time.Time) *Snapshot {
	e.mu.Lock()
	ms := make([]*managed, 0, len(e.order))
	for _, ih := range e.order {
		ms = append(ms, e.torrents[ih])
	}
	e.mu.Unlock()
	s := &Snapshot{Time: now, ListenAddr: e.ListenAddr(), UTP: UTPAvailable}
	for _, m := range ms {
		tv := m.view(now)
		s.DownRate += tv.DownRate
		s.UpRate += tv.UpRate
		s.Torrents = append(s.Torrents, tv)
	}
	for _, d := range e.cl.DhtServers() {
		if st, ok := d.Stats().(dht.ServerStats); ok {
			s.DHTGood += st.GoodNodes
			s.DHTNodes += st.Nodes
		}
	}
	return s
}

func (m *managed) view(now time.Time) TorrentView {
	t := m.t
	m.mu.Lock()
	tv := TorrentView{
		InfoHash:    m.ih.HexString(),
		DataDir:     m.dataDir,
		Magnet:      m.magnet,
		AddedAt:     m.addedAt,
		CompletedAt: m.completedAt,
		Private:     m.private,
	}
	paused, checking, err, ready, seeded := m.paused, m.checking, m.err, m.ready, m.record.Seeded
	prio := m.priorities
	announcers := append([]*announcer(nil), m.announcers...)
	m.mu.Unlock()

	tv.Name = safeString(t.Name())
	stats := t.Stats()
	tv.Downloaded = stats.BytesReadUsefulData.Int64()
	tv.Uploaded = stats.BytesWrittenData.Int64()
	tv.Hashed = stats.BytesHashed.Int64()
	info := t.Info()
	tv.HasInfo = info != nil
	if info != nil {
		tv.Size = t.Length()
		tv.PieceLength = info.PieceLength
		tv.NumPieces = t.NumPieces()
		tv.Files, tv.Wanted, tv.Done = fileViews(t, prio)
		tv.Pieces, tv.PiecesHashing = pieceStates(t)
	}
	for _, a := range announcers {
		tv.Trackers = append(tv.Trackers, a.view())
	}

	// Rates from counter differences.
	r := &m.rates
	first := !r.initiated
	dt := now.Sub(r.at).Seconds()
	if !first && dt > 0 {
		r.down = ewma(r.down, float64(tv.Downloaded-r.read)/dt, false)
		r.up = ewma(r.up, float64(tv.Uploaded-r.written)/dt, false)
	}
	r.at, r.read, r.written, r.initiated = now, tv.Downloaded, tv.Uploaded, true
	tv.DownRate, tv.UpRate = r.down, r.up

	tv.PeerSources = map[string]int{}
	tv.PeersFound = m.e.found.counts(m.ih)
	newPeers := make(map[string]peerRate)
	for _, pc := range t.PeerConns() {
		pv := peerView(pc, tv.NumPieces)
		pv.PeerChoking, pv.PeerInterested = m.e.peers.peek(pc)
		ps := pc.Stats()
		read, written := ps.BytesReadUsefulData.Int64(), ps.BytesWrittenData.Int64()
		prev, seen := r.peers[pv.Addr]
		pr := peerRate{read: read, written: written}
		if seen && dt > 0 {
			pr.down = ewma(prev.down, float64(read-prev.read)/dt, false)
			pr.up = ewma(prev.up, float64(written-prev.written)/dt, false)
		}
		newPeers[pv.Addr] = pr
		pv.DownRate, pv.UpRate = pr.down, pr.up
		pv.Downloaded, pv.Uploaded = read, written
		tv.PeerSources[pv.Source]++
		if pv.Seed {
			tv.Seeds++
		}
		tv.Peers = append(tv.Peers, pv)
	}
	r.peers = newPeers
	sort.Slice(tv.Peers, func(i, j int) bool { return tv.Peers[i].Addr < tv.Peers[j].Addr })
	tv.PeersConnected = len(tv.Peers)
	tv.PeersKnown = tv.PeersConnected + stats.PendingPeers

	tv.Warning = safeString(storageWarning(m.store))
	switch {
	case err != nil:
		tv.State, tv.Err = StateError, safeString(err.Error())
	case paused:
		tv.State = StatePaused
	case checking, !ready && info != nil, tv.PiecesHashing > 0 && tv.Downloaded == 0:
		// Hashing before any data arrived is checking what is on disk.
		tv.State = StateChecking
	case info == nil:
		tv.State = StateMetadata
	case tv.Complete(), seeded:
		// A seed of the user's files downloads nothing: with pieces that no longer match
		// (Warning says which file), it still seeds the others.
		tv.State = StateSeeding
	default:
		tv.State = StateDownloading
	}
	if tv.Complete() {
		m.mu.Lock()
		if m.completedAt.IsZero() { // first seen complete, before run() noticed
			m.completedAt = now
		}
		tv.CompletedAt = m.completedAt
		m.mu.Unlock()
	}
	if tv.Size > 0 {
		tv.Ratio = float64(tv.Uploaded) / float64(tv.Size)
	} else if tv.Downloaded > 0 {
		tv.Ratio = float64(tv.Uploaded) / float64(tv.Downloaded)
	}
	if left := tv.Wanted - tv.Done; tv.State == StateDownloading && tv.DownRate > 1 {
		tv.ETA = time.Duration(float64(left) / tv.DownRate * float64(time.Second))
		tv.ETAKnown = true
	}
	return tv
}

func peerView(pc *torrent.PeerConn, numPieces int) PeerView {
	pv := PeerView{
		Addr:   pc.RemoteAddr.String(),
		Source: sourceName(pc.Discovery),
		UTP:    strings.HasPrefix(pc.Network, "udp"),
	}
	if name, ok := pc.PeerClientName.Load().(string); ok {
		pv.Client = safeString(name)
	}
	pv.Incoming = pc.Discovery == torrent.PeerSourceIncoming
	pv.Encrypted = connEncrypted(pc)
	if numPieces > 0 {
		have := pc.PeerPieces().GetCardinality()
		pv.Progress = math.Min(1, float64(have)/float64(numPieces))
		pv.Seed = int(have) >= numPieces
	}
	return pv
}

// connEncrypted reads the connection's MSE state, which the library only
// exposes in PeerConn.String ("flags=...,E" for RC4, "e" for header only).
func connEncrypted(pc *torrent.PeerConn) bool {
	s := pc.String()
	i := strings.Index(s, "[flags=")
	if i < 0 {
		return false
	}
	flags := s[i+len("[flags="):]
	if j := strings.IndexByte(flags, ' '); j >= 0 {
		flags = flags[:j]
	}
	for _, f := range strings.Split(flags, ",") {
		if f == "E" || f == "e" {
			return true
		}
	}
	return false
}

func sourceName(s torrent.PeerSource) string {
	switch s {
	case torrent.PeerSourceTracker:
		return "tracker"
	case torrent.PeerSourceDhtGetPeers, torrent.PeerSourceDhtAnnouncePeer:
		return "dht"
	case torrent.PeerSourcePex:
		return "pex"
	case torrent.PeerSourceLPD:
		return "lsd"
	case torrent.PeerSourceIncoming:
		return "incoming"
	case torrent.PeerSourceDirect, "":
		return "direct"
	case torrent.PeerSourceUtHolepunch:
		return "holepunch"
	}
	return "other"
}

func fileViews(t *torrent.Torrent, prio map[int]Priority) (files []FileView, wanted, done int64) {
	for i, f := range t.Files() {
		p, ok := prio[i]
		if !ok {
			p = PriorityNormal
		}
		fv := FileView{Index: i, Path: safeString(f.DisplayPath()), Size: f.Length(), Done: verifiedBytes(f), Priority: p}
		if p != PrioritySkip {
			wanted += fv.Size
			done += fv.Done
		}
		files = append(files, fv)
	}
	return files, wanted, done
}

// pieceStates returns one state per piece, and how many pieces are queued
// for or being hashed.
// verifiedBytes counts a file's bytes in verified pieces. The library's
// File.BytesCompleted also counts blocks of pieces not yet verified, which
// a crash can lose: "done" must mean verified.
func verifiedBytes(f *torrent.File) int64 {
	var n int64
	for _, ps := range f.State() {
		if ps.Complete {
			n += ps.Bytes
		}
	}
	return n
}

func pieceStates(t *torrent.Torrent) (out []PieceState, hashing int) {
	out = make([]PieceState, 0, t.NumPieces())
	for _, run := range t.PieceStateRuns() {
		if run.Checking || run.Hashing || run.QueuedForHash {
			hashing += run.Length
		}
		st := PieceMissing
		switch {
		case run.Complete:
			st = PieceComplete
		case run.Partial || run.Checking || run.Hashing || run.QueuedForHash:
			st = PiecePartial
		case run.Priority == 0:
			st = PieceSkipped
		}
		for range run.Length {
			out = append(out, st)
		}
	}
	return out, hashing
}

func magnetFor(t *torrent.Torrent) string {
	mi := t.Metainfo()
	return metaView(&mi, t.Info()).Magnet
}
