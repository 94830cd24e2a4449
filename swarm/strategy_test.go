package swarm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/types"
)

func TestParseStrategy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Strategy
		err  string
	}{
		{in: "", want: Strategy{}},
		{in: "cooperative", want: Strategy{Cooperative: true}},
		{in: "coop=1, stripes=0", want: Strategy{Cooperative: true, NoStripes: true}},
		{in: "window=64M", want: Strategy{PieceWindow: 64 << 20}},
		{in: "pace=0", want: Strategy{NoPacing: true}},
		{in: "pace=100ms", want: Strategy{RequestQueueDelay: 100 * time.Millisecond}},
		{in: "reqq=8", want: Strategy{maxRequests: 8}},
		{in: "dedup=0", want: Strategy{keepDupes: true}},
		{in: "tcp", want: Strategy{PreferTCP: true}},
		{in: "tcp=0", want: Strategy{}},
		{in: "stripes=maybe", err: "stripes=maybe"},
		{in: "fast", err: "unknown key"},
	} {
		got, err := parseStrategy(Strategy{}, tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseStrategy(%q) error %v, want one mentioning %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseStrategy(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func peerID(i int) types.PeerID {
	var id types.PeerID
	copy(id[:], fmt.Sprintf("-SH0001-%012d", i))
	return id
}

// Peers that see the same set of peers get distinct ranks 0..n-1, whatever
// order they list their peers in.
func TestStripeRankDistinct(t *testing.T) {
	ih := [20]byte{1, 2, 3}
	for _, n := range []int{1, 2, 7, 31} {
		ids := make([]types.PeerID, n)
		for i := range ids {
			ids[i] = peerID(i)
		}
		seen := map[int]bool{}
		for i, self := range ids {
			// Each peer lists the others, rotated, without itself.
			var others []types.PeerID
			for j := 1; j < n; j++ {
				others = append(others, ids[(i+j)%n])
			}
			if i%2 == 1 {
				others = append(others, self, others[0]) // duplicates and self change nothing
			}
			st := stripeRank(ih, self, others)
			if st.n != n || st.k < 0 || st.k >= n || seen[st.k] {
				t.Fatalf("n=%d: peer %d got %+v (ranks so far %v)", n, i, st, seen)
			}
			seen[st.k] = true
		}
	}
	// Another torrent orders the same peers differently.
	a := stripeRank([20]byte{1}, peerID(0), []types.PeerID{peerID(1), peerID(2), peerID(3)})
	same := 0
	for b := byte(2); b < 12; b++ {
		if stripeRank([20]byte{b}, peerID(0), []types.PeerID{peerID(1), peerID(2), peerID(3)}) == a {
			same++
		}
	}
	if same == 10 {
		t.Errorf("peer 0 has rank %d in every torrent", a.k)
	}
}

// The pacer doubles a connection's queue while blocks come back promptly,
// cuts it when they queue, and never leaves [paceMinDepth, reqq].
func TestPacerDepth(t *testing.T) {
	clock := time.Unix(1000, 0)
	rp := newRequestPacer(50 * time.Millisecond)
	rp.now = func() time.Time { return clock }
	p := &torrent.Peer{}
	rp.onHandshake(p, &pp.ExtendedHandshakeMessage{Reqq: 500})
	c := rp.conns[p]
	if c.depth != paceInitialDepth || c.allowed != 500 {
		t.Fatalf("after handshake: depth %d allowed %d", c.depth, c.allowed)
	}
	block := 0
	// round sends 8 requests, answers them after delay, and lets a
	// paceInterval pass: the next round's first answer adjusts the depth.
	round := func(delay time.Duration) int {
		var reqs []types.Request
		for range 8 {
			r := types.Request{Index: pp.Integer(block), ChunkSpec: types.ChunkSpec{Length: 16 << 10}}
			block++
			rp.onSent(torrent.PeerRequestEvent{Peer: p, Request: r})
			reqs = append(reqs, r)
		}
		clock = clock.Add(delay)
		for _, r := range reqs {
			rp.onReceived(torrent.PeerMessageEvent{Peer: p, Message: &pp.Message{
				Type: pp.Piece, Index: r.Index, Begin: r.Begin, Piece: make([]byte, r.Length)}})
		}
		clock = clock.Add(paceInterval)
		return c.depth
	}
	round(10 * time.Millisecond)
	if d := round(10 * time.Millisecond); d != 2*paceInitialDepth {
		t.Errorf("prompt blocks: depth %d, want doubled to %d", d, 2*paceInitialDepth)
	}
	for range 10 {
		round(10 * time.Millisecond)
	}
	if c.depth != 500 {
		t.Errorf("depth %d, want the peer's reqq 500 at most", c.depth)
	}
	if d := round(time.Second); d != 375 {
		t.Errorf("blocks queued a second: depth %d, want cut by a quarter to 375", d)
	}
	for range 40 {
		round(time.Second)
	}
	if c.depth != paceMinDepth {
		t.Errorf("depth %d after long queueing, want the minimum %d", c.depth, paceMinDepth)
	}
	// Within the allowed delay but not far from it: slow growth.
	round(40 * time.Millisecond)
	if d := round(40 * time.Millisecond); d != paceMinDepth+1 {
		t.Errorf("blocks 30 ms over the base: depth %d, want %d", d, paceMinDepth+1)
	}
	// A cancelled request is forgotten; a closed connection too.
	r := types.Request{Index: 99999}
	rp.onSent(torrent.PeerRequestEvent{Peer: p, Request: r})
	rp.onDeleted(torrent.PeerRequestEvent{Peer: p, Request: r})
	if _, ok := c.sent[r]; ok {
		t.Error("deleted request still timed")
	}
	rp.onClosed(p)
	if len(rp.conns) != 0 {
		t.Error("closed connection still paced")
	}
}

// Two recipients of a slow seed split the pieces between them: each asks
// first for its own stripe, and the stripes do not overlap.
func TestStripesSplitPieces(t *testing.T) {
	if testing.Short() {
		t.Skip("swarm of three engines")
	}
	seedCfg := testConfig(t, "127.0.0.60")
	seedCfg.UpLimit = 128 << 10
	seeder, seeded, _ := seedFrom(t, seedCfg, "f.bin", map[string]int64{"f.bin": 4 << 20}, CreateOptions{PieceLength: 32 << 10})
	a, _ := leechFrom(t, testConfig(t, "127.0.0.61"), seeded.Magnet, seeder.ListenAddr())
	b, _ := leechFrom(t, testConfig(t, "127.0.0.62"), seeded.Magnet, seeder.ListenAddr(), a.ListenAddr())
	ma, _ := a.get(seeded.InfoHash)
	mb, _ := b.get(seeded.InfoHash)
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		if time.Now().After(deadline) {
			t.Fatalf("stripes never split the pieces: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
		if ma.t.Info() == nil || mb.t.Info() == nil {
			last = "no metadata yet"
			continue
		}
		highA, highB, both, neither, open := 0, 0, 0, 0, 0
		for i := range ma.t.NumPieces() {
			pa, pb := ma.t.Piece(i).State(), mb.t.Piece(i).State()
			if pa.Complete || pb.Complete {
				continue
			}
			open++
			ha, hb := pa.Priority >= types.PiecePriorityHigh, pb.Priority >= types.PiecePriorityHigh
			switch {
			case ha && hb:
				both++
			case ha:
				highA++
			case hb:
				highB++
			default:
				neither++
			}
		}
		last = fmt.Sprintf("of %d pieces missing at both: %d high at A only, %d at B only, %d at both, %d at neither", open, highA, highB, both, neither)
		if open > 20 && both == 0 && neither == 0 && highA > open/4 && highB > open/4 {
			t.Log(last)
			return
		}
	}
}

// A file rewritten under a seed is noticed: its pieces are hashed again,
// the ones that no longer match are not complete (so not served), and the
// torrent reports the change in a warning while it seeds the rest.
func TestChangedFileStopsServing(t *testing.T) {
	e, seeded, root := seedFrom(t, testConfig(t, "127.0.0.63"), "release",
		map[string]int64{"release/a.bin": 1 << 20, "release/b.bin": 1 << 20}, CreateOptions{PieceLength: 64 << 10})
	// Overwrite 10 bytes in the middle of b.bin: one piece changes.
	f, err := os.OpenFile(filepath.Join(root, "b.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("0123456789"), 300<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	future := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(root, "b.bin"), future, future) // a new mtime even on coarse clocks
	tv := waitFor(t, e, seeded.InfoHash, 15*time.Second, func(tv TorrentView) bool { return strings.Contains(tv.Warning, "no longer match") })
	if !strings.Contains(tv.Warning, "b.bin") || !strings.Contains(tv.Warning, "1 pieces") || tv.State != StateSeeding || tv.Err != "" {
		t.Errorf("state %s, error %q, warning %q: want seeding, and a warning that names b.bin and 1 piece", tv.State, tv.Err, tv.Warning)
	}
	m, _ := e.get(seeded.InfoHash)
	bad := 0
	for i := range m.t.NumPieces() {
		if !m.t.Piece(i).State().Complete {
			bad++
		}
	}
	if bad != 1 {
		t.Errorf("%d pieces incomplete after the change, want 1", bad)
	}
}
