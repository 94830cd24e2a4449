package swarm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// allComplete is a piece-completion store that says every piece is
// verified, so a corrupting peer never checks (and never notices) what it
// serves.
type allComplete struct{}

func (allComplete) Get(metainfo.PieceKey) (storage.Completion, error) {
	return storage.Completion{Complete: true, Ok: true}, nil
}
func (allComplete) Set(metainfo.PieceKey, g.Option[bool]) error { return nil }
func (allComplete) Close() error                                { return nil }

// corruptStorage serves a torrent's real files with one byte of every
// 4 KiB flipped on the way out: a peer that sends data failing the hash.
type corruptStorage struct{ under storage.ClientImplCloser }

func (s corruptStorage) Close() error { return s.under.Close() }

func (s corruptStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	ut, err := s.under.OpenTorrent(ctx, info, ih)
	if err != nil {
		return ut, err
	}
	// Only Piece: reads for uploads then go through corruptPiece.ReadAt.
	return storage.TorrentImpl{
		Piece: func(p metainfo.Piece) storage.PieceImpl { return corruptPiece{ut.Piece(p)} },
		Close: ut.Close,
	}, nil
}

type corruptPiece struct{ storage.PieceImpl }

func (p corruptPiece) ReadAt(b []byte, off int64) (int, error) {
	n, err := p.PieceImpl.ReadAt(b, off)
	for i := 0; i < n; i += 4 << 10 {
		b[i] ^= 0x5a
	}
	return n, err
}

// corruptPeer starts a library client on ip that seeds the torrent of
// torrentBytes from the files under dir, corrupted.
func corruptPeer(t *testing.T, ip, dir string, torrentBytes []byte) *torrent.Client {
	t.Helper()
	cc := torrent.NewDefaultClientConfig()
	cc.Slogger = slog.New(slog.DiscardHandler)
	cc.ListenHost = func(string) string { return ip }
	cc.ListenPort = 0
	cc.DisableIPv6 = true
	cc.NoDHT = true
	cc.DisableUTP = true
	cc.DisableTrackers = true
	cc.DisableWebtorrent = true
	cc.DisableWebseeds = true
	cc.NoDefaultPortForwarding = true
	cc.DialForPeerConns = false // the leecher dials it
	cc.Seed = true
	store := corruptStorage{storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		PieceCompletion: allComplete{},
		DisableMmap:     true,
	})}
	cc.DefaultStorage = store
	cl, err := torrent.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); store.Close() })
	mi, err := metainfo.Load(bytes.NewReader(torrentBytes))
	if err != nil {
		t.Fatal(err)
	}
	tor, err := cl.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	<-tor.GotInfo()
	return cl
}

// fakeTracker answers every announce with the given peers (compact) and
// interval.
func fakeTracker(t *testing.T, interval int, peers []string) *httptest.Server {
	t.Helper()
	var compact []byte
	for _, p := range peers {
		ap, err := net.ResolveTCPAddr("tcp4", p)
		if err != nil {
			t.Fatal(err)
		}
		compact = append(compact, ap.IP.To4()...)
		compact = binary.BigEndian.AppendUint16(compact, uint16(ap.Port))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bencode.MustMarshal(map[string]any{"interval": interval, "peers": string(compact)}))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestCorruptingPeersBannedDownloadCompletes is issue 8 point 3: a leecher
// that finds three peers sending corrupt blocks and one honest seed (all
// from a tracker, so none is trusted) bans the three, fetches the failed
// pieces again and ends with the right data. Pieces are four blocks long,
// so a piece can mix blocks from several peers.
func TestCorruptingPeersBannedDownloadCompletes(t *testing.T) {
	honestCfg := testConfig(t, "127.0.0.5")
	// Slow, so the leecher asks the corrupting peers for most pieces.
	honestCfg.UpLimit = 1 << 20
	honest, seeded, content := seedFrom(t, honestCfg, "payload.bin", map[string]int64{"payload.bin": 4 << 20}, CreateOptions{PieceLength: 64 << 10})

	badIPs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	peers := []string{}
	bad := map[string]*torrent.Client{}
	for _, ip := range badIPs {
		cl := corruptPeer(t, ip, filepath.Dir(content), seeded.TorrentBytes)
		bad[ip] = cl
		peers = append(peers, fmt.Sprintf("%s:%d", ip, cl.LocalPort()))
	}
	// The honest seed comes last: the corrupt ones are dialled first.
	peers = append(peers, honest.ListenAddr())
	tr := fakeTracker(t, 1800, peers)

	leecher, ih := leechFrom(t, testConfig(t, "127.0.0.6"), seeded.Magnet+"&tr="+url.QueryEscape(tr.URL+"/announce"))
	banned := completeAndBanned(t, leecher, ih, content)
	for _, ip := range badIPs {
		if !slices.Contains(banned, ip) {
			t.Errorf("corrupting peer %s not banned (banned: %v)", ip, banned)
		}
	}
	if slices.Contains(banned, "127.0.0.5") {
		t.Errorf("the honest seed was banned (banned: %v)", banned)
	}
	for _, pv := range leecher.Snapshot().Torrents[0].Peers {
		host, _, _ := net.SplitHostPort(pv.Addr)
		if slices.Contains(badIPs, host) {
			t.Errorf("still connected to corrupting peer %s", pv.Addr)
		}
	}
	var sentBad int64
	for _, cl := range bad {
		for _, tor := range cl.Torrents() {
			st := tor.Stats()
			sentBad += st.BytesWrittenData.Int64()
		}
	}
	t.Logf("corrupt peers sent %d bytes in all; banned %v", sentBad, banned)
}

// TestSmartBanCatchesCorruptPeer: a peer sending corrupt blocks is banned
// by the smart ban, which compares each block it sent with the piece once
// the piece passes. The peers are given directly (--peer), so the library
// trusts them and its other rule (ban the one peer that sent a whole failed
// piece) never applies: only the smart ban can catch this one. It needs our
// storage, which answers the hash check itself, to read a piece back when
// it passes after failing (third_party/patches/*-smartban.patch).
func TestSmartBanCatchesCorruptPeer(t *testing.T) {
	honestCfg := testConfig(t, "127.0.0.5")
	honestCfg.UpLimit = 1 << 20 // slow, so the corrupt peer serves a good part
	honest, seeded, content := seedFrom(t, honestCfg, "payload.bin", map[string]int64{"payload.bin": 2 << 20}, CreateOptions{PieceLength: 64 << 10})
	bad := corruptPeer(t, "127.0.0.2", filepath.Dir(content), seeded.TorrentBytes)

	leecher, ih := leechFrom(t, testConfig(t, "127.0.0.6"), seeded.Magnet, fmt.Sprintf("127.0.0.2:%d", bad.LocalPort()), honest.ListenAddr())
	banned := completeAndBanned(t, leecher, ih, content)
	if !slices.Contains(banned, "127.0.0.2") {
		t.Errorf("corrupting peer not banned (banned: %v)", banned)
	}
	if slices.Contains(banned, "127.0.0.5") {
		t.Errorf("the honest seed was banned (banned: %v)", banned)
	}
}

// completeAndBanned waits for the leecher to complete ih, checks its data
// against content, and returns the IPs it banned.
func completeAndBanned(t *testing.T, leecher *Engine, ih, content string) []string {
	t.Helper()
	waitFor(t, leecher, ih, 90*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	dir := leecher.Snapshot().Torrents[0].DataDir
	if got, want := treeHash(t, filepath.Join(dir, filepath.Base(content))), treeHash(t, content); got != want {
		t.Fatal("downloaded data differs from the original")
	}
	var banned []string
	for _, s := range leecher.cl.BadPeerIPs() {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("banned address %q: %v", s, err)
		}
		banned = append(banned, a.Unmap().String())
	}
	return banned
}
