package testpeers

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// MakeTorrent writes a v1 .torrent of path (a file or a folder) to out with mktorrent, a
// creator we did not write, with pieces of 2^pieceLog2 bytes (15..28) and no tracker, and
// returns its infohash in hex. Torrents made by shoal itself would let a bug in shoal's creator
// cancel out against the same bug in its reader.
func MakeTorrent(t testing.TB, path, out string, pieceLog2 int) string {
	t.Helper()
	bin := RequireTool(t, "mktorrent", "mktorrent")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -d: no creation date, so the same input gives the same bytes; -t 1: the machine is shared.
	if _, err := run(ctx, bin, "-d", "-t", "1", "-l", strconv.Itoa(pieceLog2), "-o", out, path); err != nil {
		t.Fatalf("mktorrent: %v", err)
	}
	ih, err := InfoHashFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return ih
}

// InfoHashFile returns the v1 infohash (hex) of a .torrent file.
func InfoHashFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	ih, err := InfoHash(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return ih, nil
}

// TopLevelKeys returns the keys of a metainfo file's top-level dictionary, in file order.
func TopLevelKeys(metainfo []byte) ([]string, error) {
	if len(metainfo) == 0 || metainfo[0] != 'd' {
		return nil, errors.New("metainfo: not a bencoded dictionary")
	}
	var keys []string
	i := 1
	for i < len(metainfo) && metainfo[i] != 'e' {
		key, next, err := bString(metainfo, i)
		if err != nil {
			return nil, err
		}
		if i, err = bSkip(metainfo, next, 0); err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	if i >= len(metainfo) {
		return nil, errors.New("metainfo: unterminated dictionary")
	}
	return keys, nil
}

// InfoHash returns the hex sha1 of the bencoded "info" value of a metainfo file, taken byte for
// byte from the file as the infohash must be.
func InfoHash(metainfo []byte) (string, error) {
	if len(metainfo) == 0 || metainfo[0] != 'd' {
		return "", errors.New("metainfo: not a bencoded dictionary")
	}
	i := 1
	for i < len(metainfo) && metainfo[i] != 'e' {
		key, next, err := bString(metainfo, i)
		if err != nil {
			return "", err
		}
		end, err := bSkip(metainfo, next, 0)
		if err != nil {
			return "", err
		}
		if key == "info" {
			sum := sha1.Sum(metainfo[next:end])
			return hex.EncodeToString(sum[:]), nil
		}
		i = end
	}
	return "", errors.New("metainfo: no info dictionary")
}

// bString reads a bencoded string at b[i:], returning it and the index after it.
func bString(b []byte, i int) (string, int, error) {
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j == i || j >= len(b) || b[j] != ':' {
		return "", 0, fmt.Errorf("bencode: bad string at %d", i)
	}
	n, err := strconv.Atoi(string(b[i:j]))
	if err != nil || n < 0 || j+1+n > len(b) {
		return "", 0, fmt.Errorf("bencode: bad string length at %d", i)
	}
	return string(b[j+1 : j+1+n]), j + 1 + n, nil
}

// bSkip returns the index just after the bencoded value at b[i:].
func bSkip(b []byte, i, depth int) (int, error) {
	if depth > 64 {
		return 0, errors.New("bencode: nested too deeply")
	}
	if i >= len(b) {
		return 0, errors.New("bencode: truncated")
	}
	switch c := b[i]; {
	case c == 'i':
		for j := i + 1; j < len(b); j++ {
			if b[j] == 'e' {
				return j + 1, nil
			}
		}
		return 0, errors.New("bencode: unterminated integer")
	case c == 'l' || c == 'd':
		j := i + 1
		for j < len(b) && b[j] != 'e' {
			var err error
			if j, err = bSkip(b, j, depth+1); err != nil {
				return 0, err
			}
		}
		if j >= len(b) {
			return 0, errors.New("bencode: unterminated list or dictionary")
		}
		return j + 1, nil
	case c >= '0' && c <= '9':
		_, j, err := bString(b, i)
		return j, err
	default:
		return 0, fmt.Errorf("bencode: unexpected %q at %d", c, i)
	}
}

// Magnet is a magnet link for a v1 infohash, with a display name and no tracker: peers are
// given to the downloader directly.
func Magnet(infohash, name string) string {
	m := "magnet:?xt=urn:btih:" + infohash
	if name != "" {
		m += "&dn=" + url.QueryEscape(name)
	}
	return m
}

// Payload is test data on disk with a torrent of it.
type Payload struct {
	Dir      string // the folder that holds Name (a torrent's "save path")
	Name     string // the torrent's name: the folder or file inside Dir
	Torrent  string // .torrent made by mktorrent
	InfoHash string // hex
}

// Path is Dir/Name, the file or folder the torrent describes.
func (p Payload) Path() string { return filepath.Join(p.Dir, p.Name) }

// Magnet is a magnet link for the payload.
func (p Payload) Magnet() string { return Magnet(p.InfoHash, p.Name) }

// NewData writes MultiFile (multi true) or a single file of SingleFileSize under a fresh
// temporary folder, without a torrent: for tests where shoal makes the torrent.
func NewData(t testing.TB, multi bool, seed uint64) Payload {
	t.Helper()
	p := Payload{Dir: filepath.Join(t.TempDir(), "src")}
	if multi {
		p.Name = "tree"
		WriteTree(t, p.Path(), MultiFile, seed)
	} else {
		p.Name = "single.bin"
		WriteFile(t, p.Path(), SingleFileSize, seed)
	}
	return p
}

// NewPayload is NewData plus a .torrent made by mktorrent with 32 KiB pieces: about 140 pieces
// for the folder, enough to span files and need many requests, few enough to stay fast.
func NewPayload(t testing.TB, multi bool, seed uint64) Payload {
	t.Helper()
	p := NewData(t, multi, seed)
	p.Torrent = filepath.Join(filepath.Dir(p.Dir), p.Name+".torrent")
	p.InfoHash = MakeTorrent(t, p.Path(), p.Torrent, 15)
	return p
}
