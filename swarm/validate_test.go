package swarm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

const kib = 1 << 10

// file is one entry of a crafted "files" list.
func file(length int64, path ...string) map[string]any {
	return map[string]any{"length": length, "path": path}
}

// multiInfo crafts a multi-file info dict with the right number of (zero) piece hashes.
func multiInfo(name string, pl int64, files ...map[string]any) map[string]any {
	var total int64
	list := make([]any, len(files))
	for i, f := range files {
		total += f["length"].(int64)
		list[i] = f
	}
	n := int64(0)
	if pl > 0 && total > 0 {
		n = (total + pl - 1) / pl
	}
	return map[string]any{"name": name, "piece length": pl, "pieces": string(make([]byte, 20*n)), "files": list}
}

func singleInfo(name string, pl, length int64) map[string]any {
	n := int64(0)
	if pl > 0 && length > 0 {
		n = (length + pl - 1) / pl
	}
	return map[string]any{"name": name, "piece length": pl, "pieces": string(make([]byte, 20*n)), "length": length}
}

// with returns a copy of m with the given keys set (nil deletes).
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func torrentOf(t testing.TB, info map[string]any) []byte {
	t.Helper()
	b, err := bencode.Marshal(map[string]any{"announce": "http://tracker.test/announce", "info": info})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCraftedTorrents is the table of issue 8 point 1: each crafted .torrent is refused with an
// error naming the problem and the input, or accepted with the file paths given.
func TestCraftedTorrents(t *testing.T) {
	ok := multiInfo("good", 16*kib, file(10, "a.txt"), file(20, "sub", "b.txt"))
	tests := []struct {
		name    string
		data    []byte
		lim     func(*Limits)
		wantErr string   // substring; empty means accepted
		paths   []string // for accepted torrents: TorrentMeta file paths
	}{
		{name: "good multi-file", data: torrentOf(t, ok), paths: []string{"a.txt", "sub/b.txt"}},
		{name: "good single file", data: torrentOf(t, singleInfo("one.iso", 16*kib, 100_000)), paths: []string{"one.iso"}},

		// Path traversal and absolute paths.
		{name: "dot-dot", data: torrentOf(t, multiInfo("t", 16*kib, file(1, ".."))),
			wantErr: `file 0 path "..": component ".." not allowed`},
		{name: "dot-dot inside", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "ok"), file(1, "a", "..", "..", "x"))),
			wantErr: `file 1 path "a/../../x": component ".." not allowed`},
		{name: "dot", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a", ".", "x"))),
			wantErr: `component "." not allowed`},
		{name: "absolute (empty first component)", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "", "etc", "passwd"))),
			wantErr: `file 0 path "/etc/passwd": component "" is empty`},
		{name: "absolute in one component", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "/etc/passwd"))),
			wantErr: `component "/etc/passwd" contains a slash`},
		{name: "slash hides dot-dot", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "../../x"))),
			wantErr: `contains a slash`},
		{name: "UNC path", data: torrentOf(t, multiInfo("t", 16*kib, file(1, `\\server\share\x`))),
			wantErr: `component "\\\\server\\share\\x" contains a backslash`},
		{name: "backslash traversal", data: torrentOf(t, multiInfo("t", 16*kib, file(1, `a\..\..\x`))),
			wantErr: `contains a backslash`},
		{name: "empty path list", data: torrentOf(t, multiInfo("t", 16*kib, file(1))),
			wantErr: `file 0 path "": path is empty`},
		{name: "name dot-dot", data: torrentOf(t, with(ok, "name", "..")), wantErr: `name ".." not allowed`},
		{name: "name absolute", data: torrentOf(t, with(ok, "name", "/tmp/x")), wantErr: `name "/tmp/x" contains a slash`},
		{name: "name empty", data: torrentOf(t, with(ok, "name", "")), wantErr: `torrent name is empty`},
		{name: "single-file name dot-dot", data: torrentOf(t, singleInfo("..", 16*kib, 5)), wantErr: `name ".." not allowed`},
		{name: "name.utf-8 wins and is checked", data: torrentOf(t, with(ok, "name.utf-8", "..")),
			wantErr: `name.utf-8 ".." not allowed`},
		{name: "name checked beside name.utf-8", data: torrentOf(t, with(ok, "name", "a/b", "name.utf-8", "fine")),
			wantErr: `name "a/b" contains a slash`},
		{name: "path.utf-8 checked", data: torrentOf(t, multiInfo("t", 16*kib,
			map[string]any{"length": int64(1), "path": []string{"ok"}, "path.utf-8": []string{"..", "x"}})),
			wantErr: `file 0 path.utf-8 "../x": component ".." not allowed`},
		{name: "path checked beside path.utf-8", data: torrentOf(t, multiInfo("t", 16*kib,
			map[string]any{"length": int64(1), "path": []string{"..", "x"}, "path.utf-8": []string{"ok"}})),
			wantErr: `file 0 path "../x": component ".." not allowed`},

		// Control characters, escapes, encodings, lengths of names.
		{name: "NUL", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a\x00b"))), wantErr: `contains control character '\x00'`},
		{name: "newline", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a\nb"))), wantErr: `contains control character '\n'`},
		{name: "ANSI escape", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "\x1b[2Jx"))),
			wantErr: `file 0 path "\x1b[2Jx": component "\x1b[2Jx" contains control character '\x1b'`},
		{name: "ANSI in name", data: torrentOf(t, with(ok, "name", "\x1b]0;pwn\x07")), wantErr: `contains control character '\x1b'`},
		{name: "DEL", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a\x7f"))), wantErr: `contains control character '\x7f'`},
		{name: "C1 CSI", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a\u009b2J"))), wantErr: `contains control character U+009B`},
		{name: "invalid UTF-8", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "caf\xe9"))),
			wantErr: `component "caf\xe9" is not valid UTF-8`},
		{name: "invalid UTF-8 name", data: torrentOf(t, with(ok, "name", "\xff")), wantErr: `name "\xff" is not valid UTF-8`},
		{name: "legacy path beside path.utf-8 accepted", data: torrentOf(t, multiInfo("t", 16*kib,
			map[string]any{"length": int64(1), "path": []string{"caf\xe9"}, "path.utf-8": []string{"café"}})),
			paths: []string{"café"}},
		{name: "legacy name beside name.utf-8 accepted", data: torrentOf(t, with(ok, "name", "\xc4\xe3\xba\xc3", "name.utf-8", "你好")),
			paths: []string{"a.txt", "sub/b.txt"}},
		{name: "bidi override kept for display filter", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "gpj\u202e.exe"))),
			paths: []string{`gpj\u202e.exe`}},
		{name: "name 256 bytes", data: torrentOf(t, multiInfo("t", 16*kib, file(1, strings.Repeat("a", 256)))),
			wantErr: `is 256 bytes, over the 255-byte limit`},
		{name: "name 255 bytes", data: torrentOf(t, multiInfo("t", 16*kib, file(1, strings.Repeat("a", 255)))),
			paths: []string{strings.Repeat("a", 255)}},
		{name: "torrent name 300 bytes", data: torrentOf(t, with(ok, "name", strings.Repeat("é", 150))),
			wantErr: `is 300 bytes, over the 255-byte limit`},
		{name: "path too deep", data: torrentOf(t, multiInfo("t", 16*kib, file(1, strings.Split(strings.Repeat("d/", 64)+"f", "/")...))),
			wantErr: `path has 65 components, over the limit of 64`},
		{name: "path too long", data: torrentOf(t, multiInfo("t", 16*kib, file(1, strings.Split(strings.Repeat(strings.Repeat("d", 200)+"/", 16)+"f", "/")...))),
			wantErr: `over the limit of 3072`},

		// Clashes.
		{name: "duplicate path", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a", "b"), file(2, "c"), file(3, "a", "b"))),
			wantErr: `file 2 path "a/b" is the same path as file 0 path "a/b"`},
		{name: "file and folder", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a", "b", "c"), file(2, "a-b"), file(3, "a", "b"))),
			wantErr: `file 2 path "a/b" is also a folder, holding file 0 path "a/b/c"`},
		{name: "file and .part file", data: torrentOf(t, multiInfo("t", 16*kib, file(1, "x"), file(2, "x.part"))),
			wantErr: `file 0 path "x" is stored as "x.part" while incomplete, which is file 1 path "x.part"`},
		{name: "case clash allowed by default on Linux", lim: func(l *Limits) { l.CaseInsensitivePaths = false },
			data:  torrentOf(t, multiInfo("t", 16*kib, file(1, "README"), file(2, "readme"))),
			paths: []string{"README", "readme"}},
		{name: "case clash refused when paths are case-insensitive", lim: func(l *Limits) { l.CaseInsensitivePaths = true },
			data:    torrentOf(t, multiInfo("t", 16*kib, file(1, "Dir", "README"), file(2, "dir", "readme"))),
			wantErr: `file 1 path "dir/readme" differs only in letter case from file 0 path "Dir/README"`},
		{name: "case clash file and folder", lim: func(l *Limits) { l.CaseInsensitivePaths = true },
			data:    torrentOf(t, multiInfo("t", 16*kib, file(1, "A"), file(2, "a", "x"))),
			wantErr: `file 0 path "A" is also a folder, holding file 1 path "a/x"`},

		// BEP 47 pad files.
		{name: "pad files may repeat", data: torrentOf(t, multiInfo("t", 16*kib,
			file(16*kib-1, "a"),
			map[string]any{"length": int64(1), "path": []string{".pad", "1"}, "attr": "p"},
			file(16*kib-1, "b"),
			map[string]any{"length": int64(1), "path": []string{".pad", "1"}, "attr": "p"},
			file(5, "c"))),
			paths: []string{"a", ".pad/1", "b", ".pad/1", "c"}},
		{name: "pad file cannot shadow a real file", data: torrentOf(t, multiInfo("t", 16*kib,
			file(10, "a"), map[string]any{"length": int64(1), "path": []string{"a"}, "attr": "p"})),
			wantErr: `file 1 path "a" is the same path as file 0 path "a"`},

		// Sizes.
		{name: "zero-length files accepted", data: torrentOf(t, multiInfo("t", 16*kib, file(0, "empty"), file(7, "data"), file(0, "z"))),
			paths: []string{"empty", "data", "z"}},
		{name: "all files empty", data: torrentOf(t, multiInfo("t", 16*kib, file(0, "a"), file(0, "b"))),
			wantErr: `torrent has no data: all 2 files are empty`},
		{name: "empty files list", data: torrentOf(t, with(ok, "files", []any{})), wantErr: `the files list is empty`},
		{name: "no files and no length", data: torrentOf(t, with(ok, "files", nil)), wantErr: `torrent has no data (total length 0)`},
		{name: "length and files", data: torrentOf(t, with(ok, "length", int64(5))), wantErr: `both "length" (single file) and "files"`},
		{name: "negative file length", data: torrentOf(t, with(multiInfo("t", 16*kib, file(-5, "a"), file(10, "b")), "pieces", string(make([]byte, 20)))),
			wantErr: `file 0 path "a": length -5 is negative`},
		{name: "negative single length", data: torrentOf(t, with(singleInfo("x", 16*kib, 0), "length", int64(-1))),
			wantErr: `length -1 is negative`},
		{name: "huge length", data: torrentOf(t, with(multiInfo("t", 16*kib, file(1, "a")), "files", []any{file(1<<62, "a")})),
			wantErr: `length 4611686018427387904 takes the torrent over the 140737488355328 bytes`},
		{name: "lengths that overflow int64 together", data: torrentOf(t, with(multiInfo("t", 16*kib, file(1, "a")),
			"files", []any{file(1<<46, "a"), file(1<<46, "b"), file(1<<46, "c")})),
			wantErr: `file 2 path "c": length 70368744177664 takes the torrent over`},

		// Piece length and hashes.
		{name: "piece length 0", data: torrentOf(t, with(ok, "piece length", int64(0))), wantErr: `piece length 0: must be positive`},
		{name: "piece length negative", data: torrentOf(t, with(ok, "piece length", int64(-16384))), wantErr: `piece length -16384: must be positive`},
		{name: "piece length under 16 KiB", data: torrentOf(t, singleInfo("x", 8*kib, 100)), wantErr: `piece length 8192: under the minimum of 16384`},
		{name: "piece length over 64 MiB", data: torrentOf(t, singleInfo("x", 128<<20, 100)), wantErr: `piece length 134217728: over the maximum of 67108864`},
		{name: "piece length not a power of two nor 16 KiB multiple", data: torrentOf(t, singleInfo("x", 100_000, 300_000)),
			wantErr: `piece length 100000: neither a power of two nor a multiple of 16 KiB`},
		{name: "piece length 48 KiB accepted for v1", data: torrentOf(t, singleInfo("x", 48*kib, 300_000)), paths: []string{"x"}},
		{name: "pieces not a multiple of 20", data: torrentOf(t, with(ok, "pieces", string(make([]byte, 21)))),
			wantErr: `pieces is 21 bytes, not a multiple of 20`},
		{name: "too few piece hashes", data: torrentOf(t, with(singleInfo("x", 16*kib, 100_000), "pieces", string(make([]byte, 20*3)))),
			wantErr: `3 piece hashes, but 100000 bytes in pieces of 16384 need 7`},
		{name: "too many piece hashes", data: torrentOf(t, with(ok, "pieces", string(make([]byte, 40)))),
			wantErr: `2 piece hashes, but 30 bytes in pieces of 16384 need 1`},
		{name: "more pieces than the limit", lim: func(l *Limits) { l.MaxPieces = 4 },
			data: torrentOf(t, singleInfo("x", 16*kib, 5*16*kib)), wantErr: `5 pieces, over the limit of 4`},
		{name: "more files than the limit", lim: func(l *Limits) { l.MaxFiles = 2 },
			data: torrentOf(t, multiInfo("t", 16*kib, file(1, "a"), file(1, "b"), file(1, "c"))), wantErr: `3 files, over the limit of 2`},
		{name: "meta version 3", data: torrentOf(t, with(ok, "meta version", int64(3))), wantErr: `meta version 3 is not supported`},

		// Whole-file problems (see TestBencodeBombs for the decoder-level ones).
		{name: "info not a dict", data: []byte("d4:infoi3ee"), wantErr: `info is not a bencoded dictionary`},
		{name: "no info", data: []byte("d8:announce3:urle"), wantErr: `no info dictionary`},
		{name: "not bencode", data: []byte("<!DOCTYPE html>"), wantErr: `not a .torrent file: starts with "<!DOCTYPE html>"`},
		{name: "empty", data: []byte{}, wantErr: `file is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := DefaultLimits()
			lim.CaseInsensitivePaths = false
			if tt.lim != nil {
				tt.lim(&lim)
			}
			src, err := sourceFromTorrentBytes(tt.data, lim)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("accepted, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q\n  does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			m, _ := src.View()
			var got []string
			for _, f := range m.Files {
				got = append(got, f.Path)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.paths) {
				t.Errorf("paths = %q, want %q", got, tt.paths)
			}
		})
	}
}

// TestValidateInfoMaxPiecesDefault checks the 2^21 default directly: such a torrent cannot
// arrive as a .torrent (its hashes alone exceed the file and metadata caps), but the engine
// validates infos the library decoded.
func TestValidateInfoMaxPiecesDefault(t *testing.T) {
	const pl = 16 * kib
	n := 1<<21 + 1
	info := &metainfo.Info{Name: "big", PieceLength: pl, Length: int64(n) * pl, Pieces: make([]byte, 20*n)}
	err := validateInfo(info, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "2097153 pieces, over the limit of 2097152") {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, ErrBadSource) {
		t.Errorf("error does not wrap ErrBadSource")
	}
	info.Length, info.Pieces = int64(n-1)*pl, info.Pieces[:20*(n-1)]
	if err := validateInfo(info, DefaultLimits()); err != nil {
		t.Errorf("2^21 pieces refused: %v", err)
	}
	if err := validateInfo(nil, DefaultLimits()); err == nil {
		t.Error("nil info accepted")
	}
}

func TestValidateInfoV2(t *testing.T) {
	tree := func(pl int64, files map[string]int64) metainfo.Info {
		info := metainfo.Info{Name: "v2", PieceLength: pl, MetaVersion: 2, FileTree: metainfo.FileTree{Dir: map[string]metainfo.FileTree{}}}
		for name, n := range files {
			info.FileTree.Dir[name] = metainfo.FileTree{File: metainfo.FileTreeFile{Length: n}}
		}
		return info
	}
	good := tree(32*kib, map[string]int64{"a": 100, "b": 5})
	if err := validateInfo(&good, DefaultLimits()); err != nil {
		t.Errorf("good v2 info refused: %v", err)
	}
	bad := tree(48*kib, map[string]int64{"a": 100})
	if err := validateInfo(&bad, DefaultLimits()); err == nil || !strings.Contains(err.Error(), "BEP 52") {
		t.Errorf("v2 with 48 KiB pieces: err = %v", err)
	}
	dots := tree(32*kib, map[string]int64{"..": 100})
	if err := validateInfo(&dots, DefaultLimits()); err == nil || !strings.Contains(err.Error(), `component ".." not allowed`) {
		t.Errorf("v2 with .. in file tree: err = %v", err)
	}
	empty := tree(32*kib, map[string]int64{"a": 0})
	if err := validateInfo(&empty, DefaultLimits()); err == nil || !strings.Contains(err.Error(), "no data") {
		t.Errorf("v2 without data: err = %v", err)
	}
}

// TestBencodeBombs feeds hostile bencode to the whole parsing path: each must be refused
// quickly with a clear message.
func TestBencodeBombs(t *testing.T) {
	deep := 100_000
	tests := []struct {
		name, data, wantErr string
	}{
		{"lists nested 10^5 deep", strings.Repeat("l", deep) + strings.Repeat("e", deep),
			"not a .torrent file"},
		{"info nested 10^5 deep", "d4:info" + strings.Repeat("l", deep) + strings.Repeat("e", deep) + "e",
			"lists and dictionaries nested deeper than 64 at offset 70"},
		{"dicts nested 10^5 deep", "d4:info" + strings.Repeat("d1:a", deep) + "i0e" + strings.Repeat("e", deep) + "e",
			"nested deeper than 64"},
		{"unterminated nesting", "d4:info" + strings.Repeat("l", 10), "input ends inside the list starting at offset 16"},
		{"string length 99999999999", "d4:info99999999999:abc", "string length 99999999999 at offset 7 exceeds the 3 bytes left"},
		{"string length past int64", "d4:info99999999999999999999:x", `string length "99999999999999999999" at offset 7 is malformed`},
		{"trailing garbage", string(torrentOf(t, singleInfo("x", 16*kib, 5))) + "garbage", "7 bytes of trailing data"},
		{"two top-level dicts", "d1:ai1eed1:bi2ee", "trailing data"},
		{"integer with leading zero", "d1:ai01ee", `integer "01" at offset 4 is malformed`},
		{"negative zero", "d1:ai-0ee", `integer "-0" at offset 4 is malformed`},
		{"integer overflow", "d1:ai99999999999999999999ee", "out of range"},
		{"empty integer", "d1:aiee", "malformed"},
		{"string length with leading zero", "d2:ab01:ce", `string length "01" at offset 5 is malformed`},
		{"non-string key", "di1ei2ee", "dictionary key at offset 1 is not a string"},
		{"key without value", "d1:ae", "dictionary key at offset 4 has no value"},
		{"duplicate info key", "d4:infod1:ai1ee4:infod1:ai2eee", `key "info" appears twice`},
		{"duplicate key, unsorted dict", "d1:bi1e1:ai1e1:bi2ee", `key "b" appears twice`},
		{"stray e", "d1:ai1eee", "trailing data"},
		{"bad byte", "d1:ax", `unexpected byte 'x' at offset 4`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sourceFromTorrentBytes([]byte(tt.data), DefaultLimits())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v\n want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheckBencodeAcceptsValid(t *testing.T) {
	for _, s := range []string{
		"i0e", "i-5e", "0:", "le", "de", "l1:ai1ee", "d1:ali1ei2eee",
		"d1:bi1e1:ai2ee",         // unsorted keys are tolerated (old encoders wrote them)
		"d0:i1e1:ai2ee",          // empty key
		"i9223372036854775807e",  // int64 max
		"i-9223372036854775808e", // int64 min
		strings.Repeat("l", 64) + strings.Repeat("e", 64),
	} {
		if err := checkBencode([]byte(s), 64); err != nil {
			t.Errorf("checkBencode(%q) = %v", s, err)
		}
		// The library must agree that it is one valid value. (Decoding into an interface it
		// insists on sorted keys, which it does not when decoding a .torrent into a struct.)
		var v any
		if err := bencode.Unmarshal([]byte(s), &v); err != nil && !strings.Contains(err.Error(), "unsorted") {
			t.Errorf("library refuses %q, which we accept: %v", s, err)
		}
	}
	if err := checkBencode([]byte(strings.Repeat("l", 65)+strings.Repeat("e", 65)), 64); err == nil {
		t.Error("65 levels accepted with a limit of 64")
	}
}

func TestValidateMetadata(t *testing.T) {
	good, err := bencode.Marshal(singleInfo("x", 16*kib, 100))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateMetadata(good, DefaultLimits()); err != nil {
		t.Errorf("good metadata refused: %v", err)
	}
	bad, _ := bencode.Marshal(singleInfo("../x", 16*kib, 100))
	if err := ValidateMetadata(bad, DefaultLimits()); err == nil || !errors.Is(err, ErrBadSource) {
		t.Errorf("unsafe metadata: err = %v", err)
	}
	lim := DefaultLimits()
	lim.MaxMetadataBytes = int64(len(good) - 1)
	if err := ValidateMetadata(good, lim); err == nil || !strings.Contains(err.Error(), "over the") {
		t.Errorf("oversized metadata: err = %v", err)
	}
	if err := ValidateMetadata(append(bytes.Clone(good), 'x'), DefaultLimits()); err == nil {
		t.Error("metadata with trailing garbage accepted")
	}
}

func TestQuoteTruncates(t *testing.T) {
	long := strings.Repeat("é", 200)
	q := quote(long)
	if len(q) > 140 || !strings.HasSuffix(q, "…") || strings.Contains(q, `\x`) {
		t.Errorf("quote(long) = %s", q)
	}
}
