package swarm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/anacrolix/torrent/bencode"
)

var lowerHex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// terminalSafe is an oracle independent of textsafe: no control or bidi control characters,
// valid UTF-8.
func terminalSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}

func FuzzParseMagnet(f *testing.F) {
	for _, s := range []string{
		"magnet:?xt=urn:btih:" + testHex + "&dn=name&tr=http://t.test/a&tr=udp://u.test:1",
		"magnet:?xt=urn:btih:" + testBase32,
		"magnet:?xt=urn:btmh:" + testV2 + "&xt=urn:btih:" + testHex,
		"magnet:?xt=urn:btih:" + testHex + "&ws=http://w.test/&x.pe=1.2.3.4:5&x.pe=[::1]:6&so=0-3,7",
		"magnet:?xt=urn:btih:" + testHex + "&dn=%1b%5b2J%e2%80%ae",
		"magnet:?xt=urn:btih:zz",
		"magnet:?xt=urn:btih:" + testHex + "&xt=urn:btih:" + strings.Repeat("0", 40),
		"magnet:?dn=only",
		"magnet:?xt=urn:btih:" + testHex + "&so=4294967296",
		"magnet:?xt=urn:btih:" + testHex + "&tr=%zz",
	} {
		f.Add(s)
	}
	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, s string) {
		link := s
		if !hasPrefixFold(s, "magnet:") {
			link = "magnet:?" + s
		}
		src, err := ParseSource(context.Background(), link, lim, nil)
		if err != nil {
			if !errors.Is(err, ErrBadSource) {
				t.Fatalf("error not ErrBadSource: %v", err)
			}
			if !terminalSafe(err.Error()) {
				t.Fatalf("error message not terminal-safe: %q", err.Error())
			}
			return
		}
		if src.Kind != SourceMagnet || !lowerHex40.MatchString(src.InfoHash()) {
			t.Fatalf("kind %v, infohash %q", src.Kind, src.InfoHash())
		}
		if !terminalSafe(src.DisplayName()) {
			t.Fatalf("DisplayName not terminal-safe: %q", src.DisplayName())
		}
		for _, w := range src.Warnings() {
			if !terminalSafe(w) {
				t.Fatalf("warning not terminal-safe: %q", w)
			}
		}
		m, ok := src.View()
		if ok || !terminalSafe(m.Name) || !terminalSafe(m.Magnet) {
			t.Fatalf("View: %+v %v", m, ok)
		}
		for _, tier := range m.Trackers {
			for _, u := range tier {
				if !terminalSafe(u) {
					t.Fatalf("tracker not terminal-safe: %q", u)
				}
			}
		}
		if _, err := src.spec(); err != nil {
			t.Fatal(err)
		}
		if idx, ok := src.SelectedFiles(10); ok && !slices.IsSorted(idx) {
			t.Fatalf("SelectedFiles not sorted: %v", idx)
		}
		// What we rebuild must parse back to the same thing.
		again, err := ParseSource(context.Background(), src.magnetURI(), lim, nil)
		if err != nil {
			t.Fatalf("rebuilt link %q: %v", src.magnetURI(), err)
		}
		if again.InfoHash() != src.InfoHash() || again.InfoHashV2() != src.InfoHashV2() ||
			again.name != src.name || !slices.Equal(again.PeerAddrs(), src.PeerAddrs()) ||
			!slices.Equal(again.WebSeeds(), src.WebSeeds()) || len(again.Trackers()) != len(src.Trackers()) {
			t.Fatalf("rebuilt link %q parses differently", src.magnetURI())
		}
	})
}

func FuzzParseTorrentBytes(f *testing.F) {
	// Only the small real torrents: the fuzzer minimises every new input it finds, which
	// stalls for minutes on 100 KB seeds. TestRealTorrentsAccepted covers the big ones.
	seeds, _ := filepath.Glob("testdata/torrents/*.torrent")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil && len(b) < 4<<10 {
			f.Add(b)
		}
	}
	add := func(info map[string]any) {
		b, err := bencode.Marshal(map[string]any{"announce": "http://t.test/a", "info": info})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(singleInfo("x", 16*kib, 40_000))
	add(multiInfo("t", 16*kib, file(10, "a"), file(0, "b", "c"), file(20, "..")))
	add(multiInfo("t", 16*kib, file(1, "a", "b"), file(1, "a")))
	add(multiInfo("t", 16*kib, file(16*kib-1, "a"),
		map[string]any{"length": int64(1), "path": []string{".pad", "1"}, "attr": "p"}, file(3, "b")))
	add(with(singleInfo("x", 16*kib, 40_000), "meta version", int64(2), "file tree",
		map[string]any{"x": map[string]any{"": map[string]any{"length": int64(40_000), "pieces root": strings.Repeat("r", 32)}}}))
	f.Add([]byte("d4:info" + strings.Repeat("l", 100) + strings.Repeat("e", 100) + "e"))
	f.Add([]byte("d4:info99999999999:x"))
	f.Add([]byte("d4:infod1:ai1ee4:infod1:ai2eee"))

	lim := DefaultLimits()
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := sourceFromTorrentBytes(data, lim)
		if err != nil {
			if !terminalSafe(err.Error()) {
				t.Fatalf("error message not terminal-safe: %q", err.Error())
			}
			return
		}
		info := src.info
		// Independent oracle for path safety: every path storage would build is local to the
		// download folder, has no control characters and is valid UTF-8.
		name := info.BestName()
		if !filepath.IsLocal(name) || strings.ContainsAny(name, `/\`) || !terminalSafe(name) {
			t.Fatalf("unsafe name accepted: %q", name)
		}
		seen := map[string]bool{}
		for fi := range info.UpvertedFilesIter() {
			if len(fi.BestPath()) == 0 {
				continue // single file: the name
			}
			joined := filepath.Join(append([]string{name}, fi.BestPath()...)...)
			if !filepath.IsLocal(joined) || filepath.Join(name, filepath.Clean(strings.Join(fi.BestPath(), "/"))) != joined {
				t.Fatalf("path escapes or is not clean: %q", fi.BestPath())
			}
			for _, c := range fi.BestPath() {
				if c == "" || c == "." || c == ".." || strings.ContainsAny(c, `/\`) || !terminalSafe(c) {
					t.Fatalf("unsafe component accepted: %q", c)
				}
			}
			if fi.Length < 0 {
				t.Fatalf("negative length accepted")
			}
			if seen[joined] && !strings.Contains(fi.Attr, "p") {
				t.Fatalf("duplicate path accepted: %q", joined)
			}
			seen[joined] = true
		}
		if info.PieceLength < lim.MinPieceLength || info.PieceLength > lim.MaxPieceLength || info.NumPieces() > lim.MaxPieces {
			t.Fatalf("piece length %d / count %d accepted", info.PieceLength, info.NumPieces())
		}
		if info.HasV1() && !info.HasV2() {
			if want := (info.TotalLength() + info.PieceLength - 1) / info.PieceLength; int64(info.NumPieces()) != want {
				t.Fatalf("%d pieces for %d bytes accepted", info.NumPieces(), info.TotalLength())
			}
		}
		m, _ := src.View()
		for _, fm := range m.Files {
			if !terminalSafe(fm.Path) {
				t.Fatalf("view path not terminal-safe: %q", fm.Path)
			}
		}
		if !terminalSafe(m.Name) || !terminalSafe(m.Comment) || !terminalSafe(m.CreatedBy) {
			t.Fatalf("view strings not terminal-safe: %+v", m)
		}
		if _, err := src.spec(); err != nil {
			t.Fatalf("spec of an accepted torrent: %v", err)
		}
	})
}

// FuzzCheckBencode compares our pre-scan with the library: what we accept as one value, the
// library must decode too (except for unsorted keys, which only its interface decoding
// refuses), and neither may crash.
func FuzzCheckBencode(f *testing.F) {
	for _, s := range []string{"i0e", "le", "d1:ai1ee", "d1:bi1e1:ai2ee", "li-1e3:abce", "d0:le", "i01e", "3:ab", "lllleeee"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkBencode(data, 64) != nil {
			return
		}
		var v any
		if err := bencode.Unmarshal(data, &v); err != nil && !strings.Contains(err.Error(), "unsorted") {
			t.Fatalf("we accept %q, the library refuses it: %v", data, err)
		}
	})
}
