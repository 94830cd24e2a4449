package swarm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/anacrolix/torrent/types"
)

// AddOptions are per-torrent choices made when a torrent is added.
type AddOptions struct {
	// DataDir is the folder the torrent's name is created in; the engine's
	// DataDir when empty.
	DataDir string
	// Paused adds the torrent without transferring anything.
	Paused bool
	// Verify hashes the data already on disk even where the completion
	// database or file sizes claim it is complete (seeding a .torrent whose
	// data came from elsewhere).
	Verify bool
	// FilePriorities by file index; files not listed are Normal.
	FilePriorities map[int]Priority
	// verified marks every piece complete without hashing: the caller has
	// just hashed this data itself (seeding a freshly created torrent).
	verified bool
	// seeded marks the data as the user's own files, seeded as they are
	// (sessionTorrent.Seeded).
	seeded bool
}

// Priority of a file.
type Priority int

const (
	PrioritySkip   Priority = -1 // not downloaded
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

func (p Priority) String() string {
	switch p {
	case PrioritySkip:
		return "skip"
	case PriorityHigh:
		return "high"
	}
	return "normal"
}

// ErrNotFound is returned for an infohash the engine does not have.
var ErrNotFound = errors.New("torrent not found")

// managed is the engine's record of one torrent.
type managed struct {
	e       *Engine
	t       *torrent.Torrent
	ih      metainfo.Hash
	dataDir string
	store   storage.ClientImplCloser
	addedAt time.Time
	record  sessionTorrent // what the session file keeps
	magnet  string

	ctx    context.Context // cancelled when the torrent is removed
	cancel context.CancelFunc

	mu          sync.Mutex
	paused      bool
	err         error // the latest fatal error (storage, metadata), shown in the snapshot
	completedAt time.Time
	private     bool
	priorities  map[int]Priority
	announcers  []*announcer
	rates       rateState
	checking    bool
	ready       bool // storage open and initial verification done
	retrying    bool // a write failed; retryWrites will allow downloads again
}

// Add adds a parsed source. It returns once the torrent is in the engine;
// metadata, checking and downloading continue in the background and show in
// snapshots. Adding a torrent that is already there returns its infohash.
func (e *Engine) Add(ctx context.Context, src *Source, opts AddOptions) (string, error) {
	spec, err := src.spec()
	if err != nil {
		return "", err
	}
	rec := sessionTorrent{Source: src.Raw, Paused: opts.Paused, DataDir: opts.DataDir}
	if src.mi != nil {
		rec.TorrentFile = e.torrentCachePath(specKey(spec))
		if err := saveTorrentCache(rec.TorrentFile, src.mi); err != nil {
			e.log.Warn("cache torrent file", "err", err)
			rec.TorrentFile = ""
		}
	}
	return e.addSpec(ctx, spec, opts, rec, src.magnetURI())
}

func (e *Engine) addSpec(ctx context.Context, spec *torrent.TorrentSpec, opts AddOptions, rec sessionTorrent, magnet string) (string, error) {
	if opts.DataDir == "" {
		opts.DataDir = e.cfg.DataDir
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return "", fmt.Errorf("data dir %q: %w", opts.DataDir, err)
	}
	rec.DataDir = dataDir
	rec.Seeded = rec.Seeded || opts.seeded // a restored record says so itself
	key := specKey(spec)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return "", errors.New("engine closed")
	}
	if m, ok := e.torrents[key]; ok {
		e.mu.Unlock()
		return m.ih.HexString(), nil
	}
	store := e.newStorage(dataDir, rec.Seeded)
	spec.Storage = store
	spec.DeferStorageOpen = true
	spec.DisallowDataDownload = true // until storage is open and checked
	spec.DisallowDataUpload = opts.Paused
	if opts.verified {
		// Data hashed by us a moment ago: record it so nothing is read twice.
		if info := spec.InfoBytes; info != nil {
			if err := e.markAllComplete(key, info); err != nil {
				e.log.Warn("record verified pieces", "err", err)
			}
		}
	}
	e.addGlobalSources(spec)
	t, _, err := e.cl.AddTorrentSpec(spec)
	if err != nil {
		e.mu.Unlock()
		store.Close()
		return "", fmt.Errorf("add torrent %s: %w", key.HexString(), err)
	}
	mctx, cancel := context.WithCancel(e.ctx)
	m := &managed{
		e: e, t: t, ih: key, dataDir: dataDir, store: store,
		addedAt: time.Now(), record: rec, magnet: magnet,
		ctx: mctx, cancel: cancel,
		paused:     opts.Paused,
		priorities: opts.FilePriorities,
	}
	e.torrents[key] = m
	e.order = append(e.order, key)
	e.mu.Unlock()

	t.SetOnWriteChunkError(m.onWriteError)
	m.startAnnouncers(trackerTiers(spec.Trackers, e.cfg.Trackers))
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		m.run(opts.Verify)
	}()
	if e.cfg.RestoreSession {
		e.saveSession()
	}
	e.notify()
	return m.ih.HexString(), nil
}

// specKey is the 20-byte hash the library knows a torrent by: the v1
// infohash, or for a v2-only torrent the truncated v2 one.
func specKey(spec *torrent.TorrentSpec) metainfo.Hash {
	if spec.InfoHash.IsZero() && spec.InfoHashV2.Ok {
		return *spec.InfoHashV2.Value.ToShort()
	}
	return spec.InfoHash
}

// addGlobalSources adds the engine-wide direct peers to a torrent spec.
func (e *Engine) addGlobalSources(spec *torrent.TorrentSpec) {
	spec.PeerAddrs = append(spec.PeerAddrs, e.cfg.Peers...)
}

// run waits for metadata, validates it, opens storage, checks existing data
// and starts the download. It ends when the torrent is removed or the engine
// closes.
func (m *managed) run(forceVerify bool) {
	t := m.t
	select {
	case <-t.GotInfo():
	case <-m.ctx.Done():
		return
	}
	info := t.Info()
	if err := validateInfo(info, m.e.cfg.Limits); err != nil {
		m.fail(fmt.Errorf("metadata refused: %w", err))
		return
	}
	magnet := magnetFor(t) // with the name and trackers the metadata brought
	m.mu.Lock()
	m.magnet = magnet
	m.private = info.Private != nil && *info.Private
	m.mu.Unlock()
	if m.private {
		// BEP 27: only the torrent's own trackers; no engine-wide extras.
		m.restartAnnouncersPrivate()
	}
	if m.record.TorrentFile == "" {
		mi := t.Metainfo()
		path := m.e.torrentCachePath(m.ih)
		if err := saveTorrentCache(path, &mi); err == nil {
			m.mu.Lock()
			m.record.TorrentFile = path
			m.mu.Unlock()
			if m.e.cfg.RestoreSession {
				m.e.saveSession()
			}
		}
	}
	if err := os.MkdirAll(m.dataDir, 0o755); err != nil {
		m.fail(fmt.Errorf("create data folder: %w", err))
		return
	}
	// Data the user pointed us at to seed (verify, or every piece already
	// recorded complete) is theirs, links and all, and is only read.
	if !forceVerify && !m.e.allComplete(m.ih, info.NumPieces()) {
		if err := checkStoragePaths(m.dataDir, info); err != nil {
			m.fail(err)
			return
		}
	}
	// Checking from before storage opens, so no snapshot in between shows
	// unchecked data as merely "downloading".
	m.setChecking(true)
	if err := t.OpenStorage(m.ctx, nil); err != nil {
		m.setChecking(false)
		m.fail(fmt.Errorf("open storage in %s: %w", m.dataDir, err))
		return
	}
	var err error
	if forceVerify {
		err = t.VerifyDataContext(m.ctx)
	} else {
		// Opening storage queued a check of every piece whose state is
		// unknown (data in .part files after a crash, say). Downloading
		// before it ends would fetch pieces we already have.
		err = m.waitInitialCheck()
	}
	m.setChecking(false)
	if err != nil {
		if m.ctx.Err() == nil {
			m.fail(fmt.Errorf("verify data: %w", err))
		}
		return
	}
	m.applyPriorities()
	m.applyStrategy()
	m.mu.Lock()
	seeded := m.record.Seeded
	m.mu.Unlock()
	missing := 0 // pieces of a seeded folder that no longer match
	if seeded {
		missing = missingPieces(m.ctx, t)
	}
	if missing > 0 {
		m.fail(fmt.Errorf("%s: %d of %d pieces do not match the torrent (changed on disk since it was seeded?) and are not served; shoal writes nothing into seeded files (seed them again to share new content)", filepath.Join(m.dataDir, info.BestName()), missing, info.NumPieces()))
	}
	m.mu.Lock()
	paused := m.paused
	m.ready = true
	m.mu.Unlock()
	if !paused && missing == 0 {
		t.AllowDataDownload()
	}
	m.e.notify()
	select {
	case <-t.Complete().On():
		m.mu.Lock()
		if m.completedAt.IsZero() {
			m.completedAt = time.Now()
		}
		m.mu.Unlock()
		m.announceCompleted()
		m.e.notify()
	case <-m.ctx.Done():
	}
}

// waitInitialCheck waits until no piece is queued for or being hashed.
func (m *managed) waitInitialCheck() error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		busy := false
		for _, run := range m.t.PieceStateRuns() {
			if run.Checking || run.Hashing || run.QueuedForHash {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		select {
		case <-m.ctx.Done():
			return m.ctx.Err()
		case <-tick.C:
		}
	}
}

func (m *managed) setChecking(v bool) {
	m.mu.Lock()
	m.checking = v
	m.mu.Unlock()
	m.e.notify()
}

func (m *managed) fail(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
	m.t.DisallowDataDownload()
	m.e.log.Error("torrent stopped", "infohash", m.ih.HexString(), "err", err)
	m.e.notify()
}

// onWriteError runs (in a goroutine of its own) when a block cannot be
// written: disk full, a read-only or vanished folder. Downloading stops
// with a visible error; verified pieces stay, and blocks that did not reach
// the disk fail their piece's check (without blaming the peer), so nothing
// unverified is kept. One retry loop per torrent then allows downloading
// again: as soon as there is room on a full disk, otherwise after
// writeRetryInterval.
func (m *managed) onWriteError(err error) {
	full := errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
	if full {
		m.fail(fmt.Errorf("disk full in %s, waiting for space: %w", m.dataDir, err))
	} else {
		m.fail(fmt.Errorf("write to %s: %w", m.dataDir, err))
	}
	m.mu.Lock()
	retrying := m.retrying
	m.retrying = true
	m.mu.Unlock()
	if !retrying {
		m.retryWrites(full)
	}
}

// Write retries: how often free space is looked at, how much must be free
// to try again, and the longest wait.
const (
	diskPollInterval   = time.Second
	minFreeForRetry    = 4 << 20
	writeRetryInterval = 30 * time.Second
)

func (m *managed) retryWrites(full bool) {
	need := int64(minFreeForRetry)
	if info := m.t.Info(); info != nil {
		need = max(need, 2*info.PieceLength)
	}
	deadline := time.Now().Add(writeRetryInterval)
	tick := time.NewTicker(diskPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			break
		}
		if full {
			if free, ok := freeBytes(m.dataDir); ok && free >= need {
				break
			}
		}
	}
	// Cleared before downloading resumes, so a write failing right away
	// starts the next round.
	m.mu.Lock()
	paused := m.paused
	m.err = nil
	m.retrying = false
	m.mu.Unlock()
	m.e.log.Info("retrying writes", "infohash", m.ih.HexString())
	if !paused {
		m.t.AllowDataDownload()
	}
	m.e.notify()
}

// applyPriorities sets file priorities; without any, the whole torrent.
func (m *managed) applyPriorities() {
	m.mu.Lock()
	prio := m.priorities
	seeded := m.record.Seeded
	m.mu.Unlock()
	files := m.t.Files()
	for i, f := range files {
		p, ok := prio[i]
		switch {
		case seeded:
			// The user's own files, seeded as they are: a piece that no longer matches
			// must not be fetched over what they wrote. Wanting nothing also keeps the
			// seed uploading to everyone (a torrent that wants pieces uploads only to
			// peers that give back).
			p = PrioritySkip
		case !ok:
			p = PriorityNormal
		}
		f.SetPriority(libPriority(p))
	}
}

// missingPieces counts t's pieces not complete once no hash check is
// pending: a check ends a moment before the piece's state says what it found
// (see settledComplete).
func missingPieces(ctx context.Context, t *torrent.Torrent) int {
	missing := 0
	untilSettled(ctx, func() bool {
		missing = 0
		pending := false
		for _, run := range t.PieceStateRuns() {
			pending = pending || hashPending(run.PieceState)
			if !run.Complete {
				missing += run.Length
			}
		}
		return !pending
	})
	return missing
}

func libPriority(p Priority) types.PiecePriority {
	switch p {
	case PrioritySkip:
		return types.PiecePriorityNone
	case PriorityHigh:
		return types.PiecePriorityHigh
	}
	return types.PiecePriorityNormal
}

func (e *Engine) get(infohash string) (*managed, error) {
	var ih metainfo.Hash
	if err := ih.FromHexString(infohash); err != nil {
		return nil, fmt.Errorf("infohash %q: %w", infohash, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.torrents[ih]
	if !ok {
		return nil, fmt.Errorf("%s: %w", infohash, ErrNotFound)
	}
	return m, nil
}

// SetFilePriority changes what is downloaded of a torrent.
func (e *Engine) SetFilePriority(infohash string, file int, p Priority) error {
	m, err := e.get(infohash)
	if err != nil {
		return err
	}
	m.mu.Lock()
	seeded := m.record.Seeded
	m.mu.Unlock()
	if seeded {
		return fmt.Errorf("%s is seeded from your own files: shoal downloads nothing into them", infohash)
	}
	m.mu.Lock()
	if m.priorities == nil {
		m.priorities = make(map[int]Priority)
	}
	m.priorities[file] = p
	m.record.Priorities = m.priorities
	m.mu.Unlock()
	if m.t.Info() != nil {
		files := m.t.Files()
		if file < 0 || file >= len(files) {
			return fmt.Errorf("file %d: out of range (torrent has %d files)", file, len(files))
		}
		files[file].SetPriority(libPriority(p))
	}
	e.saveSessionIfEnabled()
	e.notify()
	return nil
}

// Pause stops transferring a torrent; its connections are closed.
func (e *Engine) Pause(infohash string) error {
	m, err := e.get(infohash)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.paused = true
	m.record.Paused = true
	m.mu.Unlock()
	m.t.DisallowDataDownload()
	m.t.DisallowDataUpload()
	m.t.SetMaxEstablishedConns(0)
	e.saveSessionIfEnabled()
	e.notify()
	return nil
}

// Resume undoes Pause.
func (e *Engine) Resume(infohash string) error {
	m, err := e.get(infohash)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.paused = false
	m.record.Paused = false
	m.err = nil
	m.mu.Unlock()
	m.t.SetMaxEstablishedConns(torrent.NewDefaultClientConfig().EstablishedConnsPerTorrent)
	m.t.AllowDataUpload()
	if m.t.Info() != nil {
		m.t.AllowDataDownload()
	}
	e.saveSessionIfEnabled()
	e.notify()
	return nil
}

// Verify re-hashes a torrent's data in the background; pieces that fail are
// downloaded again (except in a seed of the user's files, which downloads
// nothing: they are just not served).
func (e *Engine) Verify(infohash string) error {
	m, err := e.get(infohash)
	if err != nil {
		return err
	}
	if m.t.Info() == nil {
		return fmt.Errorf("%s: no metadata yet", infohash)
	}
	go func() {
		m.setChecking(true)
		defer m.setChecking(false)
		if err := m.t.VerifyDataContext(m.ctx); err != nil && m.ctx.Err() == nil {
			m.fail(fmt.Errorf("verify data: %w", err))
		}
	}()
	return nil
}

// Remove drops a torrent; with deleteData its files are deleted too (only
// the torrent's own files, never anything else in the folder).
func (e *Engine) Remove(ctx context.Context, infohash string, deleteData bool) error {
	m, err := e.get(infohash)
	if err != nil {
		return err
	}
	e.mu.Lock()
	delete(e.torrents, m.ih)
	for i, ih := range e.order {
		if ih == m.ih {
			e.order = append(e.order[:i:i], e.order[i+1:]...)
			break
		}
	}
	e.mu.Unlock()
	m.stopAnnouncers(ctx)
	m.cancel()
	info := m.t.Info()
	m.t.Drop()
	<-m.t.Closed()
	m.store.Close()
	var errs []error
	if deleteData && info != nil {
		errs = append(errs, deleteTorrentFiles(m.dataDir, info, !m.record.Seeded))
	}
	if m.record.TorrentFile != "" {
		os.Remove(m.record.TorrentFile)
	}
	e.forgetCompletion(m.ih, info)
	e.found.forget(m.ih)
	e.completion.forget(m.ih)
	e.saveSessionIfEnabled()
	e.notify()
	return errors.Join(errs...)
}

// AddPeers dials the given HOST:PORT peers for a torrent.
func (e *Engine) AddPeers(infohash string, addrs []string) error {
	m, err := e.get(infohash)
	if err != nil {
		return err
	}
	peers := make([]torrent.PeerInfo, 0, len(addrs))
	for _, a := range addrs {
		peers = append(peers, torrent.PeerInfo{Addr: torrent.StringAddr(a), Source: torrent.PeerSourceDirect, Trusted: true})
	}
	m.t.AddPeers(peers)
	return nil
}
