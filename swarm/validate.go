package swarm

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// ErrBadSource is wrapped by every error about a SOURCE argument or metadata that cannot or must
// not be used: malformed magnet links, URLs and .torrent files, and torrents refused as unsafe.
// The CLI maps it to exit status 2.
var ErrBadSource = errors.New("bad source")

// sourceError carries a message that already says what was wrong, and makes errors.Is report
// ErrBadSource without "bad source: " cluttering that message.
type sourceError struct{ err error }

func (e *sourceError) Error() string   { return e.err.Error() }
func (e *sourceError) Unwrap() []error { return []error{ErrBadSource, e.err} }

// badSource marks err as a bad-source error (nil stays nil; marking twice is harmless).
func badSource(err error) error {
	if err == nil || errors.Is(err, ErrBadSource) {
		return err
	}
	return &sourceError{err}
}

// ValidateMetadata checks an info dictionary received from peers (BEP 9) before any storage is
// opened for it: size, bencode well-formedness and everything validateInfo checks. It does not
// compare the hash: the library refuses metadata not matching the infohash before it ever
// reaches the caller (and checkInfoHash does it for callers that hold raw bytes).
func ValidateMetadata(infoBytes []byte, lim Limits) error {
	_, err := decodeInfo(infoBytes, lim.withDefaults())
	return badSource(err)
}

// decodeInfo bounds, decodes and validates raw info bytes.
func decodeInfo(infoBytes []byte, lim Limits) (*metainfo.Info, error) {
	if int64(len(infoBytes)) > lim.MaxMetadataBytes {
		return nil, fmt.Errorf("info dictionary is %d bytes, over the %d-byte limit", len(infoBytes), lim.MaxMetadataBytes)
	}
	if len(infoBytes) == 0 || infoBytes[0] != 'd' {
		return nil, errors.New("info is not a bencoded dictionary")
	}
	if err := checkBencode(infoBytes, lim.MaxBencodeDepth); err != nil {
		return nil, fmt.Errorf("info dictionary: %w", err)
	}
	var info metainfo.Info
	if err := bencode.Unmarshal(infoBytes, &info); err != nil {
		return nil, fmt.Errorf("decode info dictionary: %w", err)
	}
	if err := checkInfo(&info, lim); err != nil {
		return nil, err
	}
	return &info, nil
}

// validateInfo refuses an info dictionary that is inconsistent, or that would make storage
// create files outside the download folder, overwrite one of its own files, or produce names a
// terminal or file system would choke on. It runs before any file is created. The errors wrap
// ErrBadSource and say what was wrong with which input.
//
// Decisions:
//   - A v1 piece length that is not a power of two is accepted if it is a multiple of 16 KiB:
//     BEP 3 does not require a power of two, libtorrent and Transmission load such torrents, and
//     a multiple of the block size keeps requests whole. BEP 52 (v2, hybrid) requires a power
//     of two, so those are refused.
//   - Zero-length files are accepted (empty files are common); a torrent with no bytes at all
//     is refused.
//   - Only the names actually used for storage (name.utf-8 over name, path.utf-8 over path)
//     must be valid UTF-8: old torrents carry a legacy-encoded name or path beside the UTF-8
//     one. The unused one must still be free of separators, dot components and controls.
//   - BEP 47 pad files (attr containing "p") may share a path with each other (".pad/16384"
//     repeats), but not with a real file or folder.
//   - Windows-only hazards (drive letters, reserved names like CON, trailing dots, ":") are not
//     checked: shoal targets Linux, where they are ordinary names.
func validateInfo(info *metainfo.Info, lim Limits) error {
	return badSource(checkInfo(info, lim.withDefaults()))
}

func checkInfo(info *metainfo.Info, lim Limits) error {
	if info == nil {
		return errors.New("no info dictionary")
	}
	v2 := info.HasV2()
	switch info.MetaVersion {
	case 0, 1, 2:
	default:
		return fmt.Errorf("meta version %d is not supported", info.MetaVersion)
	}
	if err := checkPieceLength(info.PieceLength, v2, lim); err != nil {
		return err
	}
	if err := checkName(info, lim); err != nil {
		return err
	}
	maxTotal := int64(lim.MaxPieces) * lim.MaxPieceLength

	hasV1 := info.Files != nil || info.Length != 0 || len(info.Pieces) != 0 || !v2
	if hasV1 {
		if info.Files != nil && len(info.Files) == 0 {
			return errors.New("the files list is empty")
		}
		if len(info.Files) != 0 && info.Length != 0 {
			return errors.New(`info has both "length" (single file) and "files" (multi-file)`)
		}
		files, total, err := v1Files(info, lim, maxTotal)
		if err != nil {
			return err
		}
		if err := checkClashes(files, lim); err != nil {
			return err
		}
		if len(info.Pieces)%20 != 0 {
			return fmt.Errorf("pieces is %d bytes, not a multiple of 20", len(info.Pieces))
		}
		n := len(info.Pieces) / 20
		if n > lim.MaxPieces {
			return fmt.Errorf("%d pieces, over the limit of %d", n, lim.MaxPieces)
		}
		if total == 0 {
			return noDataError(len(files))
		}
		if want := (total + info.PieceLength - 1) / info.PieceLength; int64(n) != want {
			return fmt.Errorf("%d piece hashes, but %d bytes in pieces of %d need %d", n, total, info.PieceLength, want)
		}
	}
	if v2 {
		files, total, err := v2Files(info, lim, maxTotal)
		if err != nil {
			return err
		}
		if err := checkClashes(files, lim); err != nil {
			return err
		}
		if total == 0 {
			return noDataError(len(files))
		}
		if n := info.NumPieces(); n > lim.MaxPieces {
			return fmt.Errorf("%d pieces, over the limit of %d", n, lim.MaxPieces)
		}
	}
	return nil
}

func noDataError(nFiles int) error {
	if nFiles <= 1 {
		return errors.New("torrent has no data (total length 0)")
	}
	return fmt.Errorf("torrent has no data: all %d files are empty", nFiles)
}

func checkPieceLength(pl int64, v2 bool, lim Limits) error {
	switch {
	case pl <= 0:
		return fmt.Errorf("piece length %d: must be positive", pl)
	case pl < lim.MinPieceLength:
		return fmt.Errorf("piece length %d: under the minimum of %d", pl, lim.MinPieceLength)
	case pl > lim.MaxPieceLength:
		return fmt.Errorf("piece length %d: over the maximum of %d", pl, lim.MaxPieceLength)
	case bits.OnesCount64(uint64(pl)) == 1:
		return nil
	case v2:
		return fmt.Errorf("piece length %d: not a power of two, which BEP 52 (v2) requires", pl)
	case pl%(16<<10) != 0:
		return fmt.Errorf("piece length %d: neither a power of two nor a multiple of 16 KiB", pl)
	}
	return nil
}

func checkName(info *metainfo.Info, lim Limits) error {
	best, field := info.Name, "name"
	if info.NameUtf8 != "" {
		best, field = info.NameUtf8, "name.utf-8"
	}
	if best == "" {
		return errors.New("torrent name is empty")
	}
	if err := checkComponent(best, true, lim); err != nil {
		return fmt.Errorf("%s %s %w", field, quote(best), err)
	}
	if info.NameUtf8 != "" && info.Name != "" {
		if err := checkComponent(info.Name, false, lim); err != nil {
			return fmt.Errorf("name %s %w", quote(info.Name), err)
		}
	}
	return nil
}

// fileEntry is one file as storage will see it, for the clash checks.
type fileEntry struct {
	index int
	field string // the key the path came from, for messages
	path  []string
	pad   bool
}

func (f fileEntry) String() string {
	return fmt.Sprintf("file %d %s %s", f.index, f.field, quote(strings.Join(f.path, "/")))
}

// v1Files checks the files of the v1 "files" list (or the single file), returning them with
// their total length.
func v1Files(info *metainfo.Info, lim Limits, maxTotal int64) ([]fileEntry, int64, error) {
	if len(info.Files) == 0 {
		if info.Length < 0 {
			return nil, 0, fmt.Errorf("length %d is negative", info.Length)
		}
		if info.Length > maxTotal {
			return nil, 0, fmt.Errorf("length %d is over the %d bytes %d pieces can hold", info.Length, maxTotal, lim.MaxPieces)
		}
		return []fileEntry{{index: 0, field: "name", path: []string{info.BestName()}}}, info.Length, nil
	}
	if len(info.Files) > lim.MaxFiles {
		return nil, 0, fmt.Errorf("%d files, over the limit of %d", len(info.Files), lim.MaxFiles)
	}
	nameBytes := len(info.BestName())
	files := make([]fileEntry, 0, len(info.Files))
	var total int64
	for i := range info.Files {
		fi := &info.Files[i]
		field := "path"
		if len(fi.PathUtf8) != 0 {
			field = "path.utf-8"
		}
		e := fileEntry{index: i, field: field, path: fi.BestPath(), pad: strings.ContainsRune(fi.Attr, 'p')}
		if err := checkPath(e.path, nameBytes, true, lim); err != nil {
			return nil, 0, fmt.Errorf("%v: %w", e, err)
		}
		if len(fi.PathUtf8) != 0 && len(fi.Path) != 0 {
			if err := checkPath(fi.Path, nameBytes, false, lim); err != nil {
				return nil, 0, fmt.Errorf("file %d path %s: %w", i, quote(strings.Join(fi.Path, "/")), err)
			}
		}
		var err error
		if total, err = addLength(total, fi.Length, maxTotal); err != nil {
			return nil, 0, fmt.Errorf("%v: %w", e, err)
		}
		files = append(files, e)
	}
	return files, total, nil
}

// v2Files checks the files of a BEP 52 file tree.
func v2Files(info *metainfo.Info, lim Limits, maxTotal int64) ([]fileEntry, int64, error) {
	var files []fileEntry
	var total int64
	nameBytes := len(info.BestName())
	for fi := range info.UpvertedFilesIter() {
		if len(files) == lim.MaxFiles {
			return nil, 0, fmt.Errorf("file tree has over %d files", lim.MaxFiles)
		}
		e := fileEntry{index: len(files), field: "in file tree", path: fi.Path}
		if err := checkPath(e.path, nameBytes, true, lim); err != nil {
			return nil, 0, fmt.Errorf("%v: %w", e, err)
		}
		var err error
		if total, err = addLength(total, fi.Length, maxTotal); err != nil {
			return nil, 0, fmt.Errorf("%v: %w", e, err)
		}
		files = append(files, e)
	}
	return files, total, nil
}

func addLength(total, n, maxTotal int64) (int64, error) {
	if n < 0 {
		return total, fmt.Errorf("length %d is negative", n)
	}
	// Both are at most maxTotal (2^47 by default), so the sum cannot overflow.
	if n > maxTotal || total+n > maxTotal {
		return total, fmt.Errorf("length %d takes the torrent over the %d bytes its pieces can hold", n, maxTotal)
	}
	return total + n, nil
}

// checkPath checks a path inside a multi-file torrent; nameBytes is the length of the torrent
// name it is stored under.
func checkPath(path []string, nameBytes int, requireUTF8 bool, lim Limits) error {
	if len(path) == 0 {
		return errors.New("path is empty")
	}
	if len(path) > lim.MaxPathDepth {
		return fmt.Errorf("path has %d components, over the limit of %d", len(path), lim.MaxPathDepth)
	}
	n := nameBytes
	for _, c := range path {
		if err := checkComponent(c, requireUTF8, lim); err != nil {
			return fmt.Errorf("component %s %w", quote(c), err)
		}
		n += 1 + len(c)
	}
	if n > lim.MaxPathBytes {
		return fmt.Errorf("path with the torrent name is %d bytes, over the limit of %d", n, lim.MaxPathBytes)
	}
	return nil
}

// checkComponent checks one file or folder name. A name that passes cannot leave or alias its
// folder when joined: it is not empty, "." or "..", and has no separator of any platform.
func checkComponent(c string, requireUTF8 bool, lim Limits) error {
	switch {
	case c == "":
		return errors.New("is empty")
	case c == "." || c == "..":
		return errors.New("not allowed")
	case len(c) > lim.MaxNameBytes:
		return fmt.Errorf("is %d bytes, over the %d-byte limit", len(c), lim.MaxNameBytes)
	case requireUTF8 && !utf8.ValidString(c):
		return errors.New("is not valid UTF-8")
	}
	for i := 0; i < len(c); {
		b := c[i]
		switch {
		case b == '/':
			return errors.New("contains a slash")
		case b == '\\':
			return errors.New("contains a backslash")
		case b < 0x20 || b == 0x7f:
			return fmt.Errorf("contains control character %q", b)
		case b < 0x80:
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(c[i:])
		if r >= 0x80 && r <= 0x9f {
			return fmt.Errorf("contains control character %U", r)
		}
		i += size
	}
	return nil
}

// checkClashes refuses two files storage would put at the same place: the same path twice, a
// file that is also the folder of another, a file "x" beside a file "x.part" (storage writes an
// incomplete "x" as "x.part"), and with lim.CaseInsensitivePaths, paths equal but for case.
func checkClashes(files []fileEntry, lim Limits) error {
	if len(files) < 2 {
		return nil
	}
	if err := checkSortedClashes(files, "is the same path as"); err != nil {
		return err
	}
	if lim.CaseInsensitivePaths {
		folded := make([]fileEntry, len(files))
		for i, f := range files {
			f.path = slices.Clone(f.path)
			for j := range f.path {
				f.path[j] = strings.ToLower(f.path[j])
			}
			folded[i] = f
		}
		if err := checkSortedClashes(folded, "differs only in letter case from"); err != nil {
			// Name the files by their real paths, not the folded ones (index is the
			// position in files, as v1Files and v2Files number them).
			var ce *clashError
			if errors.As(err, &ce) {
				ce.a, ce.b = files[ce.a.index], files[ce.b.index]
			}
			return err
		}
	}
	byPath := make(map[string]int, len(files))
	for i, f := range files {
		byPath[strings.Join(f.path, "/")] = i
	}
	for _, f := range files {
		part := strings.Join(f.path, "/") + ".part"
		if j, ok := byPath[part]; ok && !f.pad {
			return fmt.Errorf("%v is stored as %s while incomplete, which is %v", f, quote(part), files[j])
		}
	}
	return nil
}

type clashError struct {
	a, b fileEntry
	how  string
}

func (e *clashError) Error() string { return fmt.Sprintf("%v %s %v", e.b, e.how, e.a) }

// checkSortedClashes sorts the files by path component by component, which puts every file's
// descendants right after it, so duplicates and file-folder clashes are neighbours.
func checkSortedClashes(files []fileEntry, dupHow string) error {
	sorted := slices.Clone(files)
	slices.SortStableFunc(sorted, func(a, b fileEntry) int { return slices.Compare(a.path, b.path) })
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		if a.index > b.index && slices.Equal(a.path, b.path) {
			a, b = b, a
		}
		switch {
		case slices.Equal(a.path, b.path):
			if a.pad && b.pad {
				continue
			}
			return &clashError{a, b, dupHow}
		case len(b.path) > len(a.path) && slices.Equal(a.path, b.path[:len(a.path)]):
			return &clashError{b, a, "is also a folder, holding"}
		}
	}
	return nil
}

// quote quotes an outside string for an error message: escaped (so terminal-safe) and cut
// short, since a name can be megabytes long.
func quote(s string) string {
	const max = 120
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > max-4 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// checkBencode checks that data is exactly one well-formed bencoded value, iteratively and in
// linear time, before any decoder sees it: nesting at most maxDepth, integers canonical and in
// int64 range, string lengths canonical and within the bytes that are left, dictionary keys
// strings and never repeated, nothing after the value. The library's decoder is bounded too
// (depth 64, 128 MiB strings), but this gives errors with offsets, and keeps a future library
// change from turning hostile input into a crash or a huge allocation.
func checkBencode(data []byte, maxDepth int) error {
	type frame struct {
		start   int
		dict    bool
		wantKey bool     // dict: the next value is a key
		keys    [][]byte // dict: keys so far, for the duplicate check
		seen    map[string]struct{}
	}
	var stack []frame
	i := 0
	for {
		if i >= len(data) {
			if len(stack) == 0 {
				return errors.New("empty input")
			}
			top := stack[len(stack)-1]
			kind := "list"
			if top.dict {
				kind = "dictionary"
			}
			return fmt.Errorf("input ends inside the %s starting at offset %d", kind, top.start)
		}
		c := data[i]
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if top != nil && top.dict && top.wantKey && c != 'e' && (c < '0' || c > '9') {
			return fmt.Errorf("dictionary key at offset %d is not a string", i)
		}
		switch {
		case c == 'e':
			if top == nil {
				return fmt.Errorf("unexpected 'e' at offset %d", i)
			}
			if top.dict && !top.wantKey {
				return fmt.Errorf("dictionary key at offset %d has no value", i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == 'l' || c == 'd':
			if len(stack) >= maxDepth {
				return fmt.Errorf("lists and dictionaries nested deeper than %d at offset %d", maxDepth, i)
			}
			stack = append(stack, frame{start: i, dict: c == 'd', wantKey: c == 'd'})
			i++
			continue // the container's value is complete only at its 'e'
		case c == 'i':
			end := bytes.IndexByte(data[i+1:], 'e')
			if end < 0 {
				return fmt.Errorf("integer at offset %d has no end", i)
			}
			digits := data[i+1 : i+1+end]
			if !canonicalInt(digits, true) {
				return fmt.Errorf("integer %s at offset %d is malformed", quote(string(digits)), i)
			}
			if _, err := strconv.ParseInt(string(digits), 10, 64); err != nil {
				return fmt.Errorf("integer %s at offset %d is out of range", quote(string(digits)), i)
			}
			i += end + 2
		case c >= '0' && c <= '9':
			colon := bytes.IndexByte(data[i:min(len(data), i+21)], ':')
			if colon < 0 {
				return fmt.Errorf("string length at offset %d is malformed or too long", i)
			}
			digits := data[i : i+colon]
			n, err := strconv.ParseInt(string(digits), 10, 64)
			if err != nil || !canonicalInt(digits, false) {
				return fmt.Errorf("string length %s at offset %d is malformed", quote(string(digits)), i)
			}
			body := i + colon + 1
			if left := int64(len(data) - body); n > left {
				return fmt.Errorf("string length %d at offset %d exceeds the %d bytes left", n, i, left)
			}
			if top != nil && top.dict && top.wantKey {
				key := data[body : body+int(n)]
				if err := addKey(&top.keys, &top.seen, key); err != nil {
					return fmt.Errorf("dictionary at offset %d: %w", top.start, err)
				}
			}
			i = body + int(n)
		default:
			return fmt.Errorf("unexpected byte %q at offset %d", c, i)
		}
		// A value is complete.
		if len(stack) == 0 {
			break
		}
		if top := &stack[len(stack)-1]; top.dict {
			top.wantKey = !top.wantKey
		}
	}
	if i != len(data) {
		return fmt.Errorf("%d bytes of trailing data after the value ending at offset %d", len(data)-i, i)
	}
	return nil
}

// addKey records a dictionary key, refusing repeats. Keys should arrive sorted, so the fast path
// compares with the previous one; unsorted dictionaries (which some old encoders wrote) switch to
// a set.
func addKey(keys *[][]byte, seen *map[string]struct{}, key []byte) error {
	if *seen == nil {
		if len(*keys) == 0 || bytes.Compare((*keys)[len(*keys)-1], key) < 0 {
			*keys = append(*keys, key)
			return nil
		}
		*seen = make(map[string]struct{}, len(*keys)+1)
		for _, k := range *keys {
			(*seen)[string(k)] = struct{}{}
		}
		*keys = nil
	}
	if _, ok := (*seen)[string(key)]; ok {
		return fmt.Errorf("key %s appears twice", quote(string(key)))
	}
	(*seen)[string(key)] = struct{}{}
	return nil
}

// canonicalInt reports whether digits is a decimal integer without leading zeros (and, if
// signed, without "-0").
func canonicalInt(digits []byte, signed bool) bool {
	if signed && len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
		if len(digits) > 0 && digits[0] == '0' {
			return false
		}
	}
	if len(digits) == 0 {
		return false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return false
		}
	}
	return digits[0] != '0' || len(digits) == 1
}
