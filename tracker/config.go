package tracker

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Config is everything a Server needs. Start from DefaultConfig and change what you need; every
// limit against hostile input is a named field here.
type Config struct {
	// HTTPAddr is the HTTP listen address (host:port; port 0 picks one). "" disables HTTP.
	HTTPAddr string
	// UDPAddr is the UDP listen address. "" disables UDP.
	UDPAddr string
	// MetricsAddr serves /stats (JSON) and /metrics (Prometheus). "" disables it.
	MetricsAddr string
	// Pprof adds /debug/pprof/ to the metrics listener. Off by default: it exposes internals.
	Pprof bool

	// Interval is the re-announce interval sent to clients.
	Interval time.Duration
	// MinInterval is the minimum re-announce interval sent to clients.
	MinInterval time.Duration
	// PeerTTL is how long a peer stays without re-announcing; 0 means 1.5 × Interval.
	PeerTTL time.Duration
	// CollectInterval is how often expired peers are swept out; 0 means min(PeerTTL/4, 1 min).
	CollectInterval time.Duration

	// DefaultNumWant is the number of peers sent when the client does not say.
	DefaultNumWant int
	// MaxNumWant caps the number of peers sent per announce.
	MaxNumWant int
	// MaxScrapeHashes caps the infohashes answered per scrape; extra ones are dropped. (UDP is
	// also capped by BEP 15 at 74 per packet.)
	MaxScrapeHashes int
	// MaxTorrents caps the torrents tracked; announces for new ones fail beyond it.
	MaxTorrents int
	// MaxPeersPerTorrent caps the peers recorded per torrent; new peers beyond it still get peers.
	MaxPeersPerTorrent int

	// AllowFile, if set, lists the only infohashes served (40 hex digits a line, # comments).
	// Reload re-reads it.
	AllowFile string
	// PasskeyFile, if set, makes the tracker private: only /<passkey>/announce and
	// /<passkey>/scrape with a passkey listed in the file (one a line) are served, and over UDP
	// the BEP 41 URL path must carry one. Reload re-reads it.
	PasskeyFile string
	// TrustIPParam lets the ip= query parameter (HTTP) and the IP field (UDP) choose the address
	// recorded. Off by default: with it, anyone can add any address to a swarm.
	TrustIPParam bool
	// TrustedProxies are the source networks whose X-Forwarded-For header is believed.
	TrustedProxies []netip.Prefix

	// HTTPMaxRequestBytes caps an HTTP request's line and headers together; a larger request
	// gets a failure reply and the connection is closed, except a scrape's request line (see
	// HTTPMaxScrapeLineBytes). It is also the per-connection buffer.
	HTTPMaxRequestBytes int
	// HTTPMaxQueryBytes caps the query string of an announce.
	HTTPMaxQueryBytes int
	// HTTPMaxScrapeLineBytes caps the request line of a scrape. A scrape line too long for the
	// request buffer is read as a stream: the first MaxScrapeHashes hashes are kept, the rest
	// checked and dropped, nothing buffered beyond HTTPMaxRequestBytes. At most
	// HTTPMaxRequestBytes turns streaming off.
	HTTPMaxScrapeLineBytes int
	// HTTPMaxConns caps simultaneous HTTP connections; extra ones are closed at once.
	HTTPMaxConns int
	// HTTPReadTimeout is how long a client has to send a whole request once it began (the
	// slowloris defence).
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds writing one reply.
	HTTPWriteTimeout time.Duration
	// HTTPIdleTimeout closes a keep-alive connection that sends nothing for this long.
	HTTPIdleTimeout time.Duration

	// UDPMaxReplyFactor caps a UDP reply at this many times its request's size (so the tracker
	// cannot amplify spoofed traffic); announces get fewer peers rather than a bigger reply.
	UDPMaxReplyFactor int
	// UDPConnectionIDLifetime is how long a BEP 15 connection ID stays valid.
	UDPConnectionIDLifetime time.Duration

	// Logger receives the tracker's logs; nil means slog.Default().
	Logger *slog.Logger
	// LogClientErrors logs each rejected request at Info instead of Debug.
	LogClientErrors bool
}

// DefaultConfig returns the defaults: HTTP and UDP on :6969, no metrics listener, interval 30
// minutes, min interval 5 minutes, peer TTL 45 minutes, numwant 50 (at most 200), 100 hashes per
// scrape, a million torrents, 100,000 peers per torrent, 12 KiB requests with 8 KiB announce
// queries, 1 MiB scrape request lines (streamed), 10,000 connections, read and write timeouts 2 s, idle timeout 30 s, UDP replies at most 8× their
// request, connection IDs valid 2 minutes.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:                ":6969",
		UDPAddr:                 ":6969",
		Interval:                30 * time.Minute,
		MinInterval:             5 * time.Minute,
		DefaultNumWant:          50,
		MaxNumWant:              200,
		MaxScrapeHashes:         100,
		MaxTorrents:             1_000_000,
		MaxPeersPerTorrent:      100_000,
		HTTPMaxRequestBytes:     12 << 10,
		HTTPMaxQueryBytes:       8 << 10,
		HTTPMaxScrapeLineBytes:  1 << 20, // 14,000 fully escaped hashes
		HTTPMaxConns:            10_000,
		HTTPReadTimeout:         2 * time.Second,
		HTTPWriteTimeout:        2 * time.Second,
		HTTPIdleTimeout:         30 * time.Second,
		UDPMaxReplyFactor:       8,
		UDPConnectionIDLifetime: 2 * time.Minute,
	}
}

// peerTTL returns the TTL in force.
func (c *Config) peerTTL() time.Duration {
	if c.PeerTTL > 0 {
		return c.PeerTTL
	}
	return c.Interval * 3 / 2
}

// collectInterval returns the sweep period in force.
func (c *Config) collectInterval() time.Duration {
	if c.CollectInterval > 0 {
		return c.CollectInterval
	}
	return min(c.peerTTL()/4, time.Minute)
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// validate reports the first field that cannot work.
func (c *Config) validate() error {
	positive := []struct {
		name  string
		value int64
	}{
		{"Interval", int64(c.Interval)},
		{"MinInterval", int64(c.MinInterval)},
		{"DefaultNumWant", int64(c.DefaultNumWant)},
		{"MaxNumWant", int64(c.MaxNumWant)},
		{"MaxScrapeHashes", int64(c.MaxScrapeHashes)},
		{"MaxTorrents", int64(c.MaxTorrents)},
		{"MaxPeersPerTorrent", int64(c.MaxPeersPerTorrent)},
		{"HTTPMaxQueryBytes", int64(c.HTTPMaxQueryBytes)},
		{"HTTPMaxScrapeLineBytes", int64(c.HTTPMaxScrapeLineBytes)},
		{"HTTPMaxConns", int64(c.HTTPMaxConns)},
		{"HTTPReadTimeout", int64(c.HTTPReadTimeout)},
		{"HTTPWriteTimeout", int64(c.HTTPWriteTimeout)},
		{"HTTPIdleTimeout", int64(c.HTTPIdleTimeout)},
		{"UDPMaxReplyFactor", int64(c.UDPMaxReplyFactor)},
		{"UDPConnectionIDLifetime", int64(c.UDPConnectionIDLifetime)},
	}
	for _, f := range positive {
		if f.value <= 0 {
			return fmt.Errorf("tracker config: %s must be positive, got %d", f.name, f.value)
		}
	}
	if c.HTTPMaxRequestBytes < 512 {
		return fmt.Errorf("tracker config: HTTPMaxRequestBytes must be at least 512, got %d", c.HTTPMaxRequestBytes)
	}
	if c.MinInterval > c.Interval {
		return fmt.Errorf("tracker config: MinInterval %v is longer than Interval %v", c.MinInterval, c.Interval)
	}
	if c.PeerTTL < 0 {
		return fmt.Errorf("tracker config: PeerTTL must not be negative, got %v", c.PeerTTL)
	}
	if c.DefaultNumWant > c.MaxNumWant {
		return fmt.Errorf("tracker config: DefaultNumWant %d exceeds MaxNumWant %d", c.DefaultNumWant, c.MaxNumWant)
	}
	if c.HTTPAddr == "" && c.UDPAddr == "" {
		return fmt.Errorf("tracker config: neither HTTPAddr nor UDPAddr set")
	}
	return nil
}
