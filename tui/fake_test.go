package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"shoal/swarm"
)

// fakeEngine stands in for the swarm engine: tests set its snapshot and
// read back the calls the UI made.
type fakeEngine struct {
	mu      sync.Mutex
	snap    *swarm.Snapshot
	changed chan struct{}
	calls   []string
	avail   map[string][]uint16
	// add decides what AddSource does; nil accepts any magnet link.
	add func(raw string) (string, error)
}

func newFakeEngine(s *swarm.Snapshot) *fakeEngine {
	return &fakeEngine{snap: s, changed: make(chan struct{}, 1), avail: map[string][]uint16{}}
}

func (f *fakeEngine) Snapshot() *swarm.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeEngine) Changed() <-chan struct{} { return f.changed }

// publish replaces the snapshot and signals, as the engine's sampler does.
func (f *fakeEngine) publish(s *swarm.Snapshot) {
	f.mu.Lock()
	f.snap = s
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeEngine) record(format string, a ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
	return nil
}

func (f *fakeEngine) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeEngine) AddSource(ctx context.Context, raw string) (string, error) {
	f.record("add %s", raw)
	if f.add != nil {
		return f.add(raw)
	}
	if !strings.HasPrefix(raw, "magnet:?xt=urn:btih:") {
		return "", errors.New("parse magnet link: missing xt")
	}
	return strings.TrimPrefix(raw, "magnet:?xt=urn:btih:")[:40], nil
}

func (f *fakeEngine) Pause(ih string) error  { return f.record("pause %s", ih) }
func (f *fakeEngine) Resume(ih string) error { return f.record("resume %s", ih) }
func (f *fakeEngine) Verify(ih string) error { return f.record("verify %s", ih) }
func (f *fakeEngine) Remove(ctx context.Context, ih string, del bool) error {
	return f.record("remove %s %v", ih, del)
}
func (f *fakeEngine) SetFilePriority(ih string, file int, p swarm.Priority) error {
	return f.record("priority %s %d %s", ih, file, p)
}
func (f *fakeEngine) Availability(ih string) ([]uint16, error) {
	f.record("availability %s", ih)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.avail[ih], nil
}

// t0 is the fixed clock of every golden test.
var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedNow() time.Time { return t0 }

const (
	ihUbuntu = "1111111111111111111111111111111111111111"
	ihBunny  = "2222222222222222222222222222222222222222"
	ihMagnet = "3333333333333333333333333333333333333333"
	ihPaused = "4444444444444444444444444444444444444444"
	ihBroken = "5555555555555555555555555555555555555555"
)

// fixtureSnapshot is a session with one torrent in each state.
func fixtureSnapshot() *swarm.Snapshot {
	pieces := func(n int, f func(i int) swarm.PieceState) []swarm.PieceState {
		out := make([]swarm.PieceState, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	var peers []swarm.PeerView
	for i := range 14 {
		peers = append(peers, swarm.PeerView{
			Addr:           fmt.Sprintf("10.0.%d.%d:6881", i/5, i*7%250),
			Client:         []string{"qBittorrent 5.0.1", "Transmission 4.0.6", "libtorrent 2.0.10", "shoal 0.1.0", ""}[i%5],
			Source:         []string{"tracker", "dht", "pex", "incoming", "direct"}[i%5],
			Incoming:       i%5 == 3,
			Encrypted:      i%2 == 0,
			Seed:           i%3 == 0,
			Progress:       []float64{1, 0.25, 0.5, 1, 0.75}[i%5],
			DownRate:       float64((i * 37 % 11) * 52_000),
			UpRate:         float64((i * 13 % 5) * 8_000),
			Downloaded:     int64(i) * 3_000_000,
			Uploaded:       int64(i) * 400_000,
			PeerChoking:    i%4 == 1,
			PeerInterested: i%3 == 1,
		})
	}
	const ubuntuPieces = 1200
	ubuntu := swarm.TorrentView{
		InfoHash: ihUbuntu, Name: "ubuntu-24.04.2-desktop-amd64.iso", State: swarm.StateDownloading,
		DataDir: "/home/ada/Downloads", Magnet: "magnet:?xt=urn:btih:" + ihUbuntu + "&dn=ubuntu-24.04.2-desktop-amd64.iso",
		HasInfo: true, Size: 6_203_355_136, Wanted: 6_203_355_136, Done: 2_791_509_811, PieceLength: 4 << 20 * 1,
		NumPieces: ubuntuPieces, Downloaded: 2_791_509_811, Uploaded: 310_000_000,
		DownRate: 5_832_000, UpRate: 412_000, Ratio: 0.05, ETA: 583 * time.Second, ETAKnown: true,
		PeersConnected: 14, PeersKnown: 57, Seeds: 5,
		PeerSources: map[string]int{"tracker": 3, "dht": 3, "pex": 3, "incoming": 3, "direct": 2},
		PeersFound:  map[string]int{"tracker": 21, "dht": 40, "pex": 9, "incoming": 3, "direct": 2},
		AddedAt:     t0.Add(-10 * time.Minute),
		Peers:       peers,
		Pieces: pieces(ubuntuPieces, func(i int) swarm.PieceState {
			switch {
			case i < 500 || (i > 700 && i%3 == 0):
				return swarm.PieceComplete
			case i%17 == 0:
				return swarm.PiecePartial
			}
			return swarm.PieceMissing
		}),
		Files: []swarm.FileView{{Index: 0, Path: "ubuntu-24.04.2-desktop-amd64.iso", Size: 6_203_355_136, Done: 2_791_509_811}},
		Trackers: []swarm.TrackerView{
			{URL: "https://torrent.ubuntu.com/announce", Status: "ok", Seeders: 4213, Leechers: 187, Peers: 50,
				LastAnnounce: t0.Add(-5 * time.Minute), NextAnnounce: t0.Add(25 * time.Minute)},
			{URL: "udp://tracker.example.org:6969/announce", Status: "error", LastError: "read udp: i/o timeout",
				LastAnnounce: t0.Add(-1 * time.Minute), NextAnnounce: t0.Add(90 * time.Second)},
		},
	}
	bunny := swarm.TorrentView{
		InfoHash: ihBunny, Name: "Big Buck Bunny", State: swarm.StateSeeding, DataDir: "/srv/media",
		Magnet:  "magnet:?xt=urn:btih:" + ihBunny + "&dn=Big+Buck+Bunny",
		HasInfo: true, Size: 276_445_467, Wanted: 263_000_000, Done: 263_000_000, PieceLength: 262144, NumPieces: 1055,
		Uploaded: 1_234_567_890, UpRate: 1_650_000, Ratio: 4.47, PeersConnected: 3, PeersKnown: 9,
		PeerSources: map[string]int{"lsd": 1, "incoming": 2}, PeersFound: map[string]int{"lsd": 1, "incoming": 6},
		AddedAt: t0.Add(-72 * time.Hour), CompletedAt: t0.Add(-70 * time.Hour),
		Pieces: pieces(1055, func(i int) swarm.PieceState {
			if i >= 1004 {
				return swarm.PieceSkipped
			}
			return swarm.PieceComplete
		}),
		Files: []swarm.FileView{
			{Index: 0, Path: "Big Buck Bunny/Big Buck Bunny.en.srt", Size: 140, Done: 140},
			{Index: 1, Path: "Big Buck Bunny/Big Buck Bunny.mp4", Size: 263_000_000, Done: 263_000_000, Priority: swarm.PriorityHigh},
			{Index: 2, Path: "Big Buck Bunny/extras/poster.jpg", Size: 310_901, Done: 0, Priority: swarm.PrioritySkip},
			{Index: 3, Path: "Big Buck Bunny/extras/making-of.mkv", Size: 13_134_426, Done: 0, Priority: swarm.PrioritySkip},
		},
	}
	magnet := swarm.TorrentView{
		InfoHash: ihMagnet, State: swarm.StateMetadata, DataDir: "/home/ada/Downloads",
		Magnet: "magnet:?xt=urn:btih:" + ihMagnet, PeersKnown: 4, AddedAt: t0.Add(-20 * time.Second),
		PeerSources: map[string]int{}, PeersFound: map[string]int{},
	}
	paused := swarm.TorrentView{
		InfoHash: ihPaused, Name: "debian-12.9.0-amd64-netinst.iso", State: swarm.StatePaused, DataDir: "/home/ada/Downloads",
		HasInfo: true, Size: 663_748_608, Wanted: 663_748_608, Done: 165_937_152, PieceLength: 262144, NumPieces: 2532,
		Ratio: 0.12, AddedAt: t0.Add(-3 * time.Hour),
	}
	broken := swarm.TorrentView{
		InfoHash: ihBroken, Name: "archive \\x1b[31mred\\x1b[0m", State: swarm.StateError,
		Err: "write /mnt/usb/archive: no space left on device", DataDir: "/mnt/usb",
		HasInfo: true, Size: 9_000_000_000, Wanted: 9_000_000_000, Done: 8_100_000_000, PieceLength: 8 << 20, NumPieces: 1073,
		Ratio: 0.9, AddedAt: t0.Add(-24 * time.Hour),
	}
	return &swarm.Snapshot{
		Time:     t0,
		Torrents: []swarm.TorrentView{ubuntu, bunny, magnet, paused, broken},
		DownRate: 5_832_000, UpRate: 2_062_000,
		ListenAddr: "0.0.0.0:42069", DHTNodes: 312, DHTGood: 120,
	}
}
