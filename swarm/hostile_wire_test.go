package swarm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// wirePeer is a minimal BitTorrent peer speaking plaintext, to send what
// no real client would.
type wirePeer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

var wirePeers atomic.Int64

func dialWire(t *testing.T, from, to string, ih metainfo.Hash) *wirePeer {
	t.Helper()
	return dialWireReserved(t, from, to, ih, [8]byte{})
}

// dialWireReserved handshakes with the given reserved bytes (extensions).
func dialWireReserved(t *testing.T, from, to string, ih metainfo.Hash, reserved [8]byte) *wirePeer {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp4", to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hs := append([]byte("\x13BitTorrent protocol"), reserved[:]...)
	hs = append(hs, ih[:]...)
	// A peer id of its own: the seed drops a second connection with one it knows.
	hs = append(hs, fmt.Sprintf("-ZZ0001-%012d", wirePeers.Add(1))...)
	if _, err := c.Write(hs); err != nil {
		t.Fatal(err)
	}
	p := &wirePeer{t: t, conn: c, r: bufio.NewReader(c)}
	var reply [68]byte
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(p.r, reply[:]); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if !bytes.Equal(reply[28:48], ih[:]) {
		t.Fatalf("handshake for another infohash")
	}
	return p
}

func (p *wirePeer) send(id pp.MessageType, payload ...uint32) {
	p.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(1+4*len(payload)))
	b = append(b, byte(id))
	for _, v := range payload {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("send message %v: %v", id, err)
	}
}

// sendRaw sends a message whose payload is the given bytes.
func (p *wirePeer) sendRaw(id pp.MessageType, payload ...byte) {
	p.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)))
	b = append(append(b, byte(id)), payload...)
	if _, err := p.conn.Write(b); err != nil {
		p.t.Fatalf("send message %v: %v", id, err)
	}
}

// readMsg reads the next message, skipping keep-alives: its id byte, then
// its payload.
func (p *wirePeer) readMsg() ([]byte, error) {
	for {
		var n uint32
		if err := binary.Read(p.r, binary.BigEndian, &n); err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(p.r, msg); err != nil {
			return nil, err
		}
		return msg, nil
	}
}

// waitFor reads messages until one with the given id arrives.
func (p *wirePeer) waitFor(id pp.MessageType) {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		msg, err := p.readMsg()
		if err != nil {
			p.t.Fatalf("waiting for message %v: %v", id, err)
		}
		if pp.MessageType(msg[0]) == id {
			return
		}
	}
}

// closed reports whether the other end closed the connection within a few
// seconds (reading and dropping whatever it sends until then).
func (p *wirePeer) closed(within time.Duration) bool {
	p.conn.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, p.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err == nil || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// TestHostileWireMessagesCloseOneConnection is issue 8 point 3: a peer
// sending an absurd message length, or requesting outside the torrent or
// a piece, loses its connection; a good request on another connection is
// answered, and the seed goes on serving everyone else.
func TestHostileWireMessagesCloseOneConnection(t *testing.T) {
	seeder, seeded, content := seedFrom(t, testConfig(t, "127.0.0.2"), "w.bin", map[string]int64{"w.bin": 1 << 20}, CreateOptions{PieceLength: 64 << 10})
	var ih metainfo.Hash
	must(t, ih.FromHexString(seeded.InfoHash))
	addr := seeder.ListenAddr()
	const pieces = 16

	tests := []struct {
		name string
		// hostile sends the bad input on a connection that has been unchoked.
		hostile func(p *wirePeer)
	}{
		{"message length 2 GiB", func(p *wirePeer) {
			p.conn.Write([]byte{0x7f, 0xff, 0xff, 0xff, byte(pp.Request)})
		}},
		{"message length just over the limit", func(p *wirePeer) {
			p.conn.Write(binary.BigEndian.AppendUint32(nil, 4*16<<10+1))
			p.conn.Write(make([]byte, 4*16<<10+1))
		}},
		{"request past the last piece", func(p *wirePeer) { p.send(pp.Request, pieces, 0, 16<<10) }},
		{"request for piece 2^32-1", func(p *wirePeer) { p.send(pp.Request, 1<<32-1, 0, 16<<10) }},
		{"request overflowing its piece", func(p *wirePeer) { p.send(pp.Request, 0, 64<<10-8<<10, 16<<10) }},
		{"request with begin past the piece", func(p *wirePeer) { p.send(pp.Request, 3, 1<<31, 16<<10) }},
		{"request flood", func(p *wirePeer) {
			// 3,000 distinct one-byte requests in one write, never reading the
			// replies: far beyond the 1,024 the seed lets a peer queue.
			var b []byte
			for i := range 3000 {
				b = binary.BigEndian.AppendUint32(b, 13)
				b = append(b, byte(pp.Request))
				b = binary.BigEndian.AppendUint32(b, uint32(i%pieces))
				b = binary.BigEndian.AppendUint32(b, uint32(i/pieces))
				b = binary.BigEndian.AppendUint32(b, 1)
			}
			p.conn.Write(b)
		}},
		{"bitfield a byte too long", func(p *wirePeer) { p.sendRaw(pp.Bitfield, 0xff, 0xff, 0x00) }},
		{"bitfield a byte too short", func(p *wirePeer) { p.sendRaw(pp.Bitfield, 0xff) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := dialWire(t, "127.0.1."+string(rune('1'+i)), addr, ih)
			p.send(pp.Interested)
			p.waitFor(pp.Unchoke)
			tt.hostile(p)
			if !p.closed(5 * time.Second) {
				t.Error("connection still open")
			}
		})
	}
	// The control: a good request is answered and the connection stays.
	p := dialWire(t, "127.0.1.100", addr, ih)
	p.send(pp.Interested)
	p.waitFor(pp.Unchoke)
	p.send(pp.Request, pieces-1, 0, 16<<10)
	p.waitFor(pp.Piece)
	if p.closed(time.Second) {
		t.Error("a good request closed the connection")
	}
	// Everyone else is still served: a leecher downloads the torrent.
	cfg := testConfig(t, "127.0.0.3")
	leecher, lih := leechFrom(t, cfg, seeded.Magnet, addr)
	waitFor(t, leecher, lih, 20*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	if got, want := treeHash(t, filepath.Join(cfg.DataDir, "w.bin")), treeHash(t, content); got != want {
		t.Fatal("data differs")
	}
}

func (p *wirePeer) sendExtended(extID byte, dict map[string]any, tail []byte) {
	p.t.Helper()
	body := append(append([]byte{byte(pp.Extended), extID}, bencode.MustMarshal(dict)...), tail...)
	if _, err := p.conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		p.t.Fatal(err)
	}
}

// TestHostileMetadataRefused is issue 8 point 3 for BEP 9: a peer that
// announces metadata over the 16 MiB limit, or serves metadata that does
// not hash to the infohash, gives the leecher nothing; the metadata then
// comes from an honest peer and the download completes.
func TestHostileMetadataRefused(t *testing.T) {
	seeder, seeded, content := seedFrom(t, testConfig(t, "127.0.0.2"), "m.bin", map[string]int64{"m.bin": 300_000}, CreateOptions{})
	var ih metainfo.Hash
	must(t, ih.FromHexString(seeded.InfoHash))
	// Metadata of another torrent, with a name that would be unsafe.
	fake := bencode.MustMarshal(map[string]any{"name": "../../evil", "piece length": 16 << 10, "length": 5, "pieces": string(make([]byte, 20))})

	cfg := testConfig(t, "127.0.0.3")
	leecher, lih := leechFrom(t, cfg, seeded.Magnet) // no peers yet

	hostile := func(from string, size int, serve []byte) (requests int) {
		p := dialWireExt(t, from, leecher.ListenAddr(), ih)
		p.sendExtended(0, map[string]any{"m": map[string]any{"ut_metadata": 3}, "metadata_size": size}, nil)
		theirs := -1
		p.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			msg, err := p.readMsg()
			if err != nil {
				return requests // timed out or closed: nothing more asked of us
			}
			if pp.MessageType(msg[0]) != pp.Extended {
				continue
			}
			var d map[string]any
			bencode.Unmarshal(msg[2:], &d)
			if msg[1] == 0 {
				if m, ok := d["m"].(map[string]any); ok {
					if v, ok := m["ut_metadata"].(int64); ok {
						theirs = int(v)
					}
				}
				continue
			}
			if msg[1] != 3 || theirs < 0 || serve == nil {
				continue
			}
			requests++
			piece, _ := d["piece"].(int64)
			lo, hi := int(piece)*16<<10, min(len(serve), int(piece+1)*16<<10)
			if lo >= hi {
				continue
			}
			p.sendExtended(byte(theirs), map[string]any{"msg_type": 1, "piece": piece, "total_size": len(serve)}, serve[lo:hi])
		}
	}
	if n := hostile("127.0.2.1", 100<<20, nil); n != 0 {
		t.Errorf("leecher asked for %d pieces of 100 MiB metadata", n)
	}
	if n := hostile("127.0.2.2", len(fake), fake); n == 0 {
		t.Error("leecher never asked for the fake metadata (test not exercised)")
	}
	tv := waitFor(t, leecher, lih, time.Second, func(TorrentView) bool { return true })
	if tv.HasInfo || tv.State != StateMetadata {
		t.Fatalf("after hostile metadata: has info %v, state %s, err %q", tv.HasInfo, tv.State, tv.Err)
	}
	must(t, leecher.AddPeers(lih, []string{seeder.ListenAddr()}))
	tv = waitFor(t, leecher, lih, 20*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	if tv.Name != "m.bin" {
		t.Errorf("name %q, want m.bin", tv.Name)
	}
	if got, want := treeHash(t, filepath.Join(cfg.DataDir, "m.bin")), treeHash(t, content); got != want {
		t.Fatal("data differs")
	}
}

// dialWireExt is dialWire with the extension protocol (BEP 10) offered.
func dialWireExt(t *testing.T, from, to string, ih metainfo.Hash) *wirePeer {
	t.Helper()
	return dialWireReserved(t, from, to, ih, [8]byte{5: 0x10})
}
