// Package swarm is shoal's engine: the only package that talks to
// github.com/anacrolix/torrent and anacrolix/dht. It adds, seeds, pauses and
// removes torrents, runs the tracker announces itself (the library keeps
// per-tracker state private), persists the session, and publishes immutable
// Snapshots of plain values for the command line and the UI.
package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	utp "github.com/anacrolix/go-utp"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"go.etcd.io/bbolt"
	"golang.org/x/time/rate"
)

// UTPAvailable reports whether this build carries uTP peer connections
// (swarm/utp, our own BEP 29).
const UTPAvailable = utp.Available

// Encryption is the MSE/PE policy for peer connections.
type Encryption string

const (
	EncryptionPrefer  Encryption = "prefer"  // try encrypted first, accept both
	EncryptionRequire Encryption = "require" // refuse plaintext peers
	EncryptionOff     Encryption = "off"     // plaintext only; refuse encrypted peers
)

// ParseEncryption checks a --encryption value.
func ParseEncryption(s string) (Encryption, error) {
	switch e := Encryption(s); e {
	case EncryptionPrefer, EncryptionRequire, EncryptionOff:
		return e, nil
	}
	return "", fmt.Errorf("encryption %q: want prefer, require or off", s)
}

// Config is everything the engine needs. The zero value of each field is
// replaced by a default in New, except the booleans, which say "off".
type Config struct {
	// DataDir is where downloads go unless Add is told otherwise.
	DataDir string
	// StateDir holds piece completion, the session and cached torrents.
	StateDir string
	// ListenAddr is HOST:PORT for peer connections (TCP) and the DHT (UDP).
	// A specific host also becomes the source address of outgoing
	// connections, so several clients on one machine can use 127.0.0.x.
	ListenAddr string

	NoDHT        bool
	DHTBootstrap []string // HOST:PORT; replaces the public routers when set
	NoLSD        bool
	NoPEX        bool
	NoUPnP       bool
	// NoUTP keeps peer connections on TCP only (uTP is on by default).
	NoUTP bool

	UpLimit   int64 // bytes per second, 0 = unlimited
	DownLimit int64 // bytes per second, 0 = unlimited

	Encryption Encryption
	// Peers are dialled directly for every torrent (HOST:PORT).
	Peers []string
	// Trackers are announced to for every public torrent, on top of its own.
	Trackers []string
	// NoUpload never uploads piece data (a free-rider; tests use it).
	NoUpload bool

	// RestoreSession re-adds the torrents saved in StateDir at start, and
	// saves every torrent added. The headless get/seed commands leave it off
	// so they only touch the torrents they were given.
	RestoreSession bool

	// SampleInterval is how often snapshots are taken.
	SampleInterval time.Duration

	Limits Limits
	// Strategy is how pieces are shared in a swarm; the zero value is the
	// default (strategy.go).
	Strategy Strategy
	// Discovery caps what the DHT, LSD and PEX accept; zero fields mean
	// their defaults.
	Discovery DiscoveryLimits
	Logger    *slog.Logger
	// HTTPClient fetches .torrent URLs; nil means a client with timeouts.
	HTTPClient *http.Client
}

// Engine runs one BitTorrent client and the torrents in it.
type Engine struct {
	cfg        Config
	log        *slog.Logger
	cl         *torrent.Client
	completion *completion
	// defaultStore is the client's default storage, which we own and close.
	defaultStore storage.ClientImplCloser
	upLimiter    *rate.Limiter
	downLimit    *rate.Limiter
	listenIP     net.IP
	httpClient   *http.Client
	// strategy is Config.Strategy with SHOAL_STRATEGY applied, resolved
	// once in New (strategy.go).
	strategy Strategy

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	torrents map[metainfo.Hash]*managed
	order    []metainfo.Hash // insertion order, for stable snapshots
	closed   bool

	disc  *discovery // DHT, LSD and PEX state (discovery.go)
	peers peerStates // choke/interest seen on the wire
	found foundPeers // every peer connected, by source

	snap    atomic.Pointer[Snapshot]
	changed chan struct{} // one-slot: a new snapshot is out
	kick    chan struct{} // one-slot: take a snapshot now

	sessionMu sync.Mutex // serialises session file writes
}

// New starts an engine. Close it to stop every torrent and release the
// listening sockets.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.fillDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	bolt, err := openCompletion(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	completion := newCompletion(bolt)
	e := &Engine{
		cfg:        cfg,
		log:        cfg.Logger,
		completion: completion,
		torrents:   make(map[metainfo.Hash]*managed),
		changed:    make(chan struct{}, 1),
		kick:       make(chan struct{}, 1),
		httpClient: cfg.HTTPClient,
		strategy:   effectiveStrategy(cfg),
	}
	if e.httpClient == nil {
		e.httpClient = &http.Client{Timeout: 60 * time.Second}
	}
	tcfg, err := e.clientConfig()
	if err != nil {
		bolt.Close()
		return nil, err
	}
	cl, err := torrent.NewClient(tcfg)
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("start client on %s: %w", cfg.ListenAddr, err)
	}
	e.cl = cl
	e.addDialers()
	e.ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.startDiscovery()
	e.publish(&Snapshot{Time: time.Now(), ListenAddr: e.ListenAddr(), UTP: UTPAvailable})
	if cfg.RestoreSession {
		if err := e.restoreSession(ctx); err != nil {
			e.log.Warn("restore session", "err", err)
		}
	}
	// Publish the restored torrents before returning, so the first
	// Snapshot a caller reads already lists them.
	e.publish(e.sample(time.Now()))
	e.wg.Add(1)
	go e.sampleLoop()
	return e, nil
}

func (c *Config) fillDefaults() error {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir()
	}
	if c.ListenAddr == "" {
		c.ListenAddr = ":42069"
	}
	if c.Encryption == "" {
		c.Encryption = EncryptionPrefer
	}
	if _, err := ParseEncryption(string(c.Encryption)); err != nil {
		return err
	}
	if c.SampleInterval <= 0 {
		c.SampleInterval = time.Second
	}
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// DefaultStateDir is $XDG_STATE_HOME/shoal, or ~/.local/state/shoal.
func DefaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "shoal")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "shoal")
}

// DefaultDataDir is $XDG_DOWNLOAD_DIR, or ~/Downloads.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DOWNLOAD_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "Downloads")
}

// openCompletion opens the piece-completion database shared by every
// torrent. Bolt holds a file lock; a second shoal on the same state dir
// waits a second and then gets a clear error rather than hanging.
func openCompletion(stateDir string) (storage.PieceCompletion, error) {
	pc, err := storage.NewBoltPieceCompletion(stateDir)
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("state dir %s is in use by another shoal (use --state to pick another): %w", stateDir, err)
		}
		return nil, fmt.Errorf("open piece completion in %s: %w", stateDir, err)
	}
	return pc, nil
}

func (e *Engine) clientConfig() (*torrent.ClientConfig, error) {
	c := e.cfg
	tc := torrent.NewDefaultClientConfig()
	tc.Slogger = e.log
	tc.DataDir = c.DataDir
	// Every torrent gets its own storage in addSpec; this default only
	// stops the library from creating a sqlite database in DataDir.
	e.defaultStore = e.newStorage(c.DataDir, false)
	tc.DefaultStorage = e.defaultStore
	host, portStr, err := net.SplitHostPort(c.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", c.ListenAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", c.ListenAddr)
	}
	tc.ListenPort = port
	if host != "" {
		ip := net.ParseIP(host)
		if ip == nil {
			return nil, fmt.Errorf("listen address %q: host must be an IP address", c.ListenAddr)
		}
		e.listenIP = ip
		tc.ListenHost = func(network string) string { return host }
		if ip.To4() != nil {
			tc.DisableIPv6 = true
		} else {
			tc.DisableIPv4 = true
		}
	}
	// The engine adds its own dialers (addDialers): uTP first, TCP after.
	tc.DialForPeerConns = false
	tc.DisableUTP = !UTPAvailable || c.NoUTP
	// We announce to trackers ourselves so per-tracker state is visible.
	tc.DisableTrackers = true
	tc.DisableWebtorrent = true
	tc.NoDefaultPortForwarding = c.NoUPnP
	e.configureDiscovery(tc)
	switch c.Encryption {
	case EncryptionRequire:
		tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: true}
	case EncryptionOff:
		tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: true}
	default:
		tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: false}
	}
	// Choking policy (see doc.go): seeds upload to everyone; while a
	// torrent downloads, configureStrategy decides (tit-for-tat unless
	// Strategy.Cooperative).
	tc.Seed = true
	tc.NoUpload = c.NoUpload
	// Own limiters: the library's default is a process-wide shared value.
	e.upLimiter = rate.NewLimiter(rate.Inf, math.MaxInt32)
	e.downLimit = rate.NewLimiter(rate.Inf, math.MaxInt32)
	tc.UploadRateLimiter = e.upLimiter
	tc.DownloadRateLimiter = e.downLimit
	e.setLimits(c.UpLimit, c.DownLimit)
	applyThroughputTuning(tc)
	e.configureStrategy(tc)
	tc.DialRateLimiter = rate.NewLimiter(50, 50)
	tc.Bep20 = "-SH0001-"
	tc.ExtendedHandshakeClientVersion = "shoal " + Version
	tc.HTTPUserAgent = "shoal/" + Version
	tc.MetainfoSourcesClient = e.httpClient
	tc.Callbacks.ReadMessage = e.peers.onMessage
	tc.Callbacks.PeerConnClosed = e.peers.forget
	tc.Callbacks.PeerConnAdded = append(tc.Callbacks.PeerConnAdded, e.found.onConnAdded)
	return tc, nil
}

// setLimits applies byte-per-second limits; 0 means unlimited.
func (e *Engine) setLimits(up, down int64) {
	apply := func(l *rate.Limiter, v int64) {
		if v <= 0 {
			// A positive burst even when unlimited: the library refuses new
			// connections while the download limiter shows no tokens.
			l.SetLimit(rate.Inf)
			l.SetBurst(math.MaxInt32)
			return
		}
		l.SetLimit(rate.Limit(v))
		// A burst of at least one block, at most a quarter second.
		b := int(v / 4)
		if b < 64<<10 {
			b = 64 << 10
		}
		l.SetBurst(b)
	}
	apply(e.upLimiter, up)
	apply(e.downLimit, down)
}

// SetRateLimits changes the upload and download limits (bytes/s, 0 = none).
func (e *Engine) SetRateLimits(up, down int64) { e.setLimits(up, down) }

// ListenAddr is the address peers connect to, with the port actually bound.
func (e *Engine) ListenAddr() string {
	host, _, _ := net.SplitHostPort(e.cfg.ListenAddr)
	return net.JoinHostPort(host, strconv.Itoa(e.cl.LocalPort()))
}

// ListenPort is the TCP port bound for peer connections.
func (e *Engine) ListenPort() int { return e.cl.LocalPort() }

// Close stops every torrent (announcing "stopped" to trackers), saves the
// session and releases the sockets and the completion database.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	ms := make([]*managed, 0, len(e.torrents))
	for _, ih := range e.order {
		ms = append(ms, e.torrents[ih])
	}
	e.mu.Unlock()
	// Give trackers a moment to hear "stopped", as other clients do.
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 3*time.Second)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); m.stopAnnouncers(stopCtx) }()
	}
	wg.Wait()
	cancelStop()
	e.cancel()
	e.wg.Wait()
	var errs []error
	e.stopDiscovery()
	errs = append(errs, e.cl.Close()...)
	for _, m := range ms {
		if m.store != nil {
			m.store.Close()
		}
	}
	e.defaultStore.Close()
	if err := e.completion.closeStore(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
