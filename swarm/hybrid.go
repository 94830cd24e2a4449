package swarm

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/merkle"
	"github.com/anacrolix/torrent/metainfo"
)

// Hybrid torrents (BEP 52 v2 hashes beside BEP 3 v1 ones, BEP 47 pad files).
//
// The layout is libtorrent's (create_torrent's default): files in file-tree order (path
// component by component, bytewise: the order of the bencoded "file tree" dictionary), each
// non-empty file starting on a piece boundary, and in a multi-file torrent a pad file
// ".pad/N" with attr "p" after every file whose length is not a multiple of the piece length,
// the last one included. A single-file torrent has no pad. On the same data and piece
// length, shoal and libtorrent therefore make the same info dictionary, so the same v1 and v2
// infohashes (TestHybridMatchesLibtorrent).

// hybridFile is one file's place in the piece-aligned layout.
type hybridFile struct {
	*createFile
	firstPiece int64      // its first piece
	numPieces  int64      // 0 for an empty file
	layer      [][32]byte // v2 piece-layer hashes, one per piece; the root alone if one piece
	root       [32]byte   // pieces root (hybridPiecesRoot), once hashed; zeros before
}

// sortFileTreeOrder sorts files as a BEP 52 file tree lists them: by path, component by
// component, each compared bytewise. It differs from the "/"-joined order v1 torrents use when
// a name has a byte below '/' ("a b/x" sorts after "a/x" here, before it there).
func sortFileTreeOrder(files []*createFile) {
	slices.SortFunc(files, func(a, b *createFile) int { return slices.Compare(a.rel, b.rel) })
}

// hybridLayout places the files (already in file-tree order) on piece boundaries.
func hybridLayout(files []*createFile, pl int64) ([]*hybridFile, int64) {
	out := make([]*hybridFile, len(files))
	var next int64
	for i, f := range files {
		n := (f.size + pl - 1) / pl
		out[i] = &hybridFile{createFile: f, firstPiece: next, numPieces: n}
		next += n
	}
	return out, next
}

// padLength is the BEP 47 padding after a file of size bytes in a multi-file hybrid torrent.
func padLength(size, pl int64) int64 {
	if size == 0 || size%pl == 0 {
		return 0
	}
	return pl - size%pl
}

// hybridInfo is the info dictionary of a hybrid torrent, with the hashes hashHybrid fills in
// and the pieces roots computed from them.
// It is built as generic maps: the library's FileTree writes an empty "pieces root" for empty
// files, which BEP 52 (and libtorrent) leave out.
func hybridInfo(name string, files []*hybridFile, pl int64, private bool, pieces []byte) map[string]any {
	info := map[string]any{
		"name":         name,
		"piece length": pl,
		"pieces":       string(pieces),
		"meta version": int64(2),
	}
	if private {
		info["private"] = int64(1)
	}
	leaf := func(f *hybridFile) map[string]any {
		props := map[string]any{"length": f.size}
		if f.size > 0 {
			props["pieces root"] = string(f.root[:])
		}
		return map[string]any{"": props}
	}
	if files[0].rel == nil {
		info["length"] = files[0].size
		info["file tree"] = map[string]any{name: leaf(files[0])}
		return info
	}
	tree := map[string]any{}
	var list []any
	for _, f := range files {
		dir := tree
		for _, c := range f.rel[:len(f.rel)-1] {
			sub, ok := dir[c].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dir[c] = sub
			}
			dir = sub
		}
		dir[f.rel[len(f.rel)-1]] = leaf(f)
		list = append(list, map[string]any{"length": f.size, "path": f.rel})
		if pad := padLength(f.size, pl); pad > 0 {
			n := strconv.FormatInt(pad, 10)
			list = append(list, map[string]any{"length": pad, "path": []string{".pad", n}, "attr": "p"})
		}
	}
	info["file tree"] = tree
	info["files"] = list
	return info
}

// hybridPiecesRoot is a non-empty file's merkle root: its single piece's hash (a tree over
// its blocks alone), or the root over its piece layer padded with the hash of a piece of
// zeros, as BEP 52 builds the tree.
func hybridPiecesRoot(f *hybridFile, pl int64) [32]byte {
	if f.numPieces == 1 {
		return f.layer[0]
	}
	return merkle.RootWithPadHash(f.layer, metainfo.HashForPiecePad(pl))
}

// hybridPieceLayers is the "piece layers" dictionary: for every file over one piece, its
// pieces root mapped to its piece-layer hashes concatenated.
func hybridPieceLayers(files []*hybridFile) map[string]string {
	layers := map[string]string{}
	for _, f := range files {
		if f.numPieces < 2 {
			continue
		}
		b := make([]byte, 0, 32*len(f.layer))
		for _, h := range f.layer {
			b = append(b, h[:]...)
		}
		layers[string(f.root[:])] = string(b)
	}
	return layers
}

// buildHybrid hashes files (in file-tree order, offsets set) into a hybrid info dictionary
// and its piece layers; the caller has checked the options.
func buildHybrid(ctx context.Context, name string, files []*createFile, total, pl int64, opts CreateOptions, lim Limits) (infoBytes []byte, layers map[string]string, err error) {
	hf, numPieces := hybridLayout(files, pl)
	if numPieces > int64(lim.MaxPieces) {
		return nil, nil, fmt.Errorf("%d pieces of %d bytes (each file starting a piece), over the limit of %d; choose a larger piece length",
			numPieces, pl, lim.MaxPieces)
	}
	for _, f := range hf {
		f.layer = make([][32]byte, f.numPieces)
	}
	pieces := make([]byte, numPieces*20)
	// Refuse before hashing what the parser would refuse after; the hashes are zeros here.
	if err := checkHybridInfo(name, hf, pl, opts.Private, pieces, lim); err != nil {
		return nil, nil, err
	}
	if err := hashHybrid(ctx, files, hf, numPieces, total, pl, pieces, opts.Progress); err != nil {
		return nil, nil, err
	}
	if err := checkUnchanged(files); err != nil {
		return nil, nil, err
	}
	for _, f := range hf {
		if f.numPieces > 0 {
			f.root = hybridPiecesRoot(f, pl)
		}
	}
	infoBytes, err = bencode.Marshal(hybridInfo(name, hf, pl, opts.Private, pieces))
	if err != nil {
		return nil, nil, fmt.Errorf("encode info: %w", err)
	}
	return infoBytes, hybridPieceLayers(hf), nil
}

func checkHybridInfo(name string, files []*hybridFile, pl int64, private bool, pieces []byte, lim Limits) error {
	b, err := bencode.Marshal(hybridInfo(name, files, pl, private, pieces))
	if err != nil {
		return fmt.Errorf("encode info: %w", err)
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("decode info: %w", err)
	}
	return checkInfo(&info, lim)
}

var zeroPad [64 << 10]byte

// hashHybrid fills pieces with each piece's SHA-1 (a file's last piece padded with zeros to
// the piece length, as its pad file makes it in v1, except in a single-file torrent) and each
// file's layer with its v2 piece hashes, reading every byte once. Like hashPieces it runs
// GOMAXPROCS workers over batches of whole pieces, now each within one file. plain is files
// without the layout, in the same order.
func hashHybrid(ctx context.Context, plain []*createFile, files []*hybridFile, numPieces, total, pl int64, pieces []byte, progress func(int64, int64)) error {
	padTail := files[0].rel != nil
	batch := max(1, (4<<20)/pl)
	numJobs := (numPieces + batch - 1) / batch
	// A multiple of the 16 KiB block, so every read starts a block.
	chunk := max(readChunk/merkle.BlockSize, 1) * merkle.BlockSize
	if pl < chunk {
		chunk = pl
	}
	bpp := int(pl / merkle.BlockSize) // blocks per piece
	// Only the files with pieces, for the search from piece to file.
	var withData []*hybridFile
	for _, f := range files {
		if f.numPieces > 0 {
			withData = append(withData, f)
		}
	}

	of := newOpenFiles(plain)
	defer of.closeAll()
	return hashJobs(ctx, numJobs, total, progress, func() func(job int64) (int64, error) {
		buf := make([]byte, chunk)
		leaves := make([][32]byte, 0, bpp)
		h := sha1.New()
		return func(job int64) (int64, error) {
			var read int64
			for p := job * batch; p < min((job+1)*batch, numPieces); p++ {
				i := sort.Search(len(withData), func(i int) bool { return withData[i].firstPiece+withData[i].numPieces > p })
				f := withData[i]
				off := (p - f.firstPiece) * pl
				n := min(pl, f.size-off)
				h.Reset()
				leaves = leaves[:0]
				for done := int64(0); done < n; {
					m := min(chunk, n-done)
					b := buf[:m]
					if err := of.readAt(b, f.offset+off+done); err != nil {
						return 0, err
					}
					h.Write(b)
					// Chunks start on block boundaries (chunk is a multiple of 16 KiB).
					for len(b) > 0 {
						k := min(len(b), merkle.BlockSize)
						leaves = append(leaves, sha256.Sum256(b[:k]))
						b = b[k:]
					}
					done += m
				}
				read += n
				if padTail {
					for rest := pl - n; rest > 0; {
						k := min(rest, int64(len(zeroPad)))
						h.Write(zeroPad[:k])
						rest -= k
					}
				}
				h.Sum(pieces[p*20 : p*20])
				if f.numPieces > 1 {
					// Blocks past the end of the file hash to zeros (BEP 52), so every piece
					// hash covers piece length bytes.
					for len(leaves) < bpp {
						leaves = append(leaves, [32]byte{})
					}
				}
				f.layer[p-f.firstPiece] = merkle.RootWithPadHash(leaves, [32]byte{})
			}
			return read, nil
		}
	})
}
