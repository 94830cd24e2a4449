package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	infohash_v2 "github.com/anacrolix/torrent/types/infohash-v2"

	"shoal/internal/textsafe"
)

// SourceKind says what a SOURCE argument was.
type SourceKind int

const (
	SourceMagnet      SourceKind = iota + 1 // a magnet: link
	SourceTorrentFile                       // a path to a .torrent file
	SourceURL                               // an http(s) URL of a .torrent file
	SourceInfoHash                          // a bare infohash, 40 hex or 32 base32 characters
)

func (k SourceKind) String() string {
	switch k {
	case SourceMagnet:
		return "magnet link"
	case SourceTorrentFile:
		return "torrent file"
	case SourceURL:
		return "torrent URL"
	case SourceInfoHash:
		return "infohash"
	}
	return "SourceKind(" + strconv.Itoa(int(k)) + ")"
}

// Source is a parsed SOURCE argument, checked and ready to add. A Source with info (from a
// .torrent file or URL) has passed validateInfo; one without (magnet link, infohash) gets its
// info from peers, which the engine validates on arrival.
type Source struct {
	// Raw is the argument as given.
	Raw  string
	Kind SourceKind

	mi   *metainfo.MetaInfo // nil for magnet links and infohashes
	info *metainfo.Info     // nil for magnet links and infohashes
	ih   metainfo.Hash      // zero for a v2-only torrent
	ihv2 g.Option[infohash_v2.T]
	name string // the name as given (info name or dn), not yet made terminal-safe

	trackers  [][]string
	webSeeds  []string
	peerAddrs []string
	selection []fileRange // BEP 53 "so"; nil means every file
	hasSel    bool
	warnings  []string
}

type fileRange struct{ first, last int }

// ParseSource parses and checks a SOURCE argument: a magnet link, an http(s) URL of a .torrent,
// a .torrent path, or a bare infohash (40 hex or 32 base32 characters; a file of that name wins).
// A .torrent is size-capped before it is read, checked for well-formed bencode, and its info
// validated (see validateInfo). httpClient fetches URLs (nil: a default client); its redirects
// are limited to http and https. Every error about the argument itself wraps ErrBadSource;
// network failures and ctx cancellation while fetching a URL do not.
func ParseSource(ctx context.Context, raw string, lim Limits, httpClient *http.Client) (*Source, error) {
	lim = lim.withDefaults()
	s := strings.TrimSpace(raw)
	var src *Source
	var err error
	lower := strings.ToLower(s)
	switch {
	case s == "":
		err = badSource(errors.New("empty SOURCE: want a magnet link, a .torrent file or URL, or an infohash"))
	case strings.HasPrefix(lower, "magnet:"):
		src, err = parseMagnet(s, lim)
		if err != nil {
			err = badSource(fmt.Errorf("parse magnet link: %w", err))
		}
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		src, err = fetchTorrent(ctx, s, lim, httpClient)
	default:
		src, err = parseLocal(s, lim)
	}
	if err != nil {
		return nil, err
	}
	src.Raw = raw
	return src, nil
}

// parseLocal handles what is neither a magnet link nor an http(s) URL.
func parseLocal(s string, lim Limits) (*Source, error) {
	_, statErr := os.Stat(s)
	if statErr != nil && errors.Is(statErr, os.ErrNotExist) {
		if ih, err := parseV1Hash(s); err == nil {
			return &Source{Kind: SourceInfoHash, ih: ih, trackers: [][]string{}}, nil
		}
		if scheme, _, ok := strings.Cut(s, "://"); ok && scheme != "" && !strings.ContainsAny(scheme, `/\.`) {
			return nil, badSource(fmt.Errorf("%s: unsupported URL scheme %s (want magnet:, http: or https:)", quote(s), quote(scheme)))
		}
	}
	return readTorrentFile(s, lim)
}

// readTorrentFile reads a .torrent from disk, refusing non-regular files (a FIFO would block, a
// device never end) and files over the limit before reading them.
func readTorrentFile(path string, lim Limits) (*Source, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, badSource(fmt.Errorf("torrent file: %w", err))
	}
	if fi.IsDir() {
		return nil, badSource(fmt.Errorf("%s is a folder, not a .torrent file or magnet link", quote(path)))
	}
	if !fi.Mode().IsRegular() {
		return nil, badSource(fmt.Errorf("%s is not a regular file (%v)", quote(path), fi.Mode().Type()))
	}
	if fi.Size() > lim.MaxTorrentFileBytes {
		return nil, badSource(fmt.Errorf("torrent file %s is %d bytes, over the %d-byte limit", quote(path), fi.Size(), lim.MaxTorrentFileBytes))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, badSource(fmt.Errorf("torrent file: %w", err))
	}
	defer f.Close()
	// The file may have grown since Stat: read one byte past the limit to notice.
	data, err := io.ReadAll(io.LimitReader(f, lim.MaxTorrentFileBytes+1))
	if err != nil {
		return nil, badSource(fmt.Errorf("torrent file: %w", err))
	}
	src, err := sourceFromTorrentBytes(data, lim)
	if err != nil {
		return nil, badSource(fmt.Errorf("torrent file %s: %w", quote(path), err))
	}
	src.Kind = SourceTorrentFile
	return src, nil
}

// redirectError is a redirect refused by fetchTorrent.
type redirectError struct{ err error }

func (e *redirectError) Error() string { return e.err.Error() }
func (e *redirectError) Unwrap() error { return e.err }

// fetchTorrent downloads a .torrent over http(s) with a deadline, a body cap and redirects
// limited to http(s), then parses it like a file.
func fetchTorrent(ctx context.Context, rawURL string, lim Limits, client *http.Client) (*Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, badSource(fmt.Errorf("torrent URL: %w", err))
	}
	if u.Host == "" {
		return nil, badSource(fmt.Errorf("torrent URL %s has no host", quote(rawURL)))
	}
	shown := u.Redacted()
	var c http.Client
	if client != nil {
		c = *client // a copy, so the caller's CheckRedirect is not replaced
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if s := req.URL.Scheme; s != "http" && s != "https" {
			return &redirectError{fmt.Errorf("redirect to %s refused: only http and https are followed", quote(req.URL.Redacted()))}
		}
		if len(via) >= 10 {
			return &redirectError{errors.New("stopped after 10 redirects")}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, lim.HTTPSourceTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, badSource(fmt.Errorf("torrent URL %s: %w", quote(shown), err))
	}
	req.Header.Set("Accept", "application/x-bittorrent, application/octet-stream;q=0.9, */*;q=0.1")
	resp, err := c.Do(req)
	if err != nil {
		err = fmt.Errorf("fetch %s: %w", shown, err)
		var re *redirectError
		if errors.As(err, &re) {
			return nil, badSource(err)
		}
		return nil, err // the network, not the argument
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The status text is our own: the server's reason phrase could carry escapes.
		return nil, badSource(fmt.Errorf("fetch %s: HTTP status %d %s", shown, resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	max := lim.MaxHTTPSourceBytes
	if resp.ContentLength > max {
		return nil, badSource(fmt.Errorf("fetch %s: body is %d bytes, over the %d-byte limit", shown, resp.ContentLength, max))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", shown, err)
	}
	if int64(len(data)) > max {
		return nil, badSource(fmt.Errorf("fetch %s: body is over the %d-byte limit", shown, max))
	}
	if len(data) == 0 || data[0] != 'd' {
		return nil, badSource(fmt.Errorf("fetch %s: not a .torrent file (Content-Type %s, body starts %s)",
			shown, quote(resp.Header.Get("Content-Type")), quote(string(data[:min(len(data), 16)]))))
	}
	// The cap above is the one that applies to downloads, which may differ from the file cap.
	lim.MaxTorrentFileBytes = max
	src, err := sourceFromTorrentBytes(data, lim)
	if err != nil {
		return nil, badSource(fmt.Errorf("torrent from %s: %w", shown, err))
	}
	src.Kind = SourceURL
	return src, nil
}

// parseTorrentBytes checks and decodes a .torrent: size, well-formed bencode with nothing
// after it, an info dictionary that is hashed exactly as it appears in the file, and info
// that passes validateInfo.
func parseTorrentBytes(data []byte, lim Limits) (*metainfo.MetaInfo, *metainfo.Info, error) {
	if int64(len(data)) > lim.MaxTorrentFileBytes {
		return nil, nil, fmt.Errorf("%d bytes, over the %d-byte limit for .torrent files", len(data), lim.MaxTorrentFileBytes)
	}
	if len(data) == 0 {
		return nil, nil, errors.New("file is empty")
	}
	if data[0] != 'd' {
		return nil, nil, fmt.Errorf("not a .torrent file: starts with %s, not a bencoded dictionary", quote(string(data[:min(len(data), 16)])))
	}
	if err := checkBencode(data, lim.MaxBencodeDepth); err != nil {
		return nil, nil, fmt.Errorf("malformed bencode: %w", err)
	}
	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(data, &mi); err != nil {
		return nil, nil, fmt.Errorf("decode: %w", err)
	}
	start, end, ok := topLevelValue(data, "info")
	if !ok || len(mi.InfoBytes) == 0 {
		return nil, nil, errors.New("no info dictionary")
	}
	// The infohash must cover the info bytes exactly as they are in the file, not a
	// re-encoding; check that the decoder handed over those very bytes.
	if sha1.Sum(data[start:end]) != mi.HashInfoBytes() {
		return nil, nil, errors.New("info dictionary bytes changed in decoding; refusing an infohash that may not match")
	}
	info, err := decodeInfo(mi.InfoBytes, lim)
	if err != nil {
		return nil, nil, err
	}
	return &mi, info, nil
}

// sourceFromTorrentBytes builds a Source from .torrent bytes.
func sourceFromTorrentBytes(data []byte, lim Limits) (*Source, error) {
	mi, info, err := parseTorrentBytes(data, lim)
	if err != nil {
		return nil, err
	}
	return sourceFromMetaInfo(mi, info, lim)
}

func sourceFromMetaInfo(mi *metainfo.MetaInfo, info *metainfo.Info, lim Limits) (*Source, error) {
	s := &Source{mi: mi, info: info, name: info.BestName()}
	if info.HasV1() {
		s.ih = mi.HashInfoBytes()
	}
	if info.HasV2() {
		s.ihv2.Set(infohash_v2.HashBytes(mi.InfoBytes))
	}
	var err error
	if s.trackers, err = s.cleanTrackers(mi.UpvertedAnnounceList(), lim); err != nil {
		return nil, err
	}
	if s.webSeeds, err = s.cleanWebSeeds(mi.UrlList, lim); err != nil {
		return nil, err
	}
	return s, nil
}

// topLevelValue finds the raw bytes of key's value in the top-level dictionary of data, which
// checkBencode has accepted.
func topLevelValue(data []byte, key string) (start, end int, ok bool) {
	i := 1 // past the 'd'
	for i < len(data) && data[i] != 'e' {
		kEnd := skipValue(data, i)
		colon := bytes.IndexByte(data[i:], ':')
		k := data[i+colon+1 : kEnd]
		vEnd := skipValue(data, kEnd)
		if string(k) == key {
			return kEnd, vEnd, true
		}
		i = vEnd
	}
	return 0, 0, false
}

// skipValue returns the offset just past the value at data[i]; data must be valid bencode.
func skipValue(data []byte, i int) int {
	depth := 0
	for {
		switch c := data[i]; {
		case c == 'l' || c == 'd':
			depth++
			i++
		case c == 'e':
			depth--
			i++
		case c == 'i':
			i += bytes.IndexByte(data[i:], 'e') + 1
		default:
			colon := bytes.IndexByte(data[i:], ':')
			n, _ := strconv.Atoi(string(data[i : i+colon]))
			i += colon + 1 + n
		}
		if depth == 0 {
			return i
		}
	}
}

// parseMagnet parses a magnet link (BEP 9, BEP 53, and btmh from BEP 52). Unknown parameters
// and xt values of other networks are ignored; a tracker, web seed or peer address that cannot
// be used is dropped with a warning.
func parseMagnet(s string, lim Limits) (*Source, error) {
	if len(s) > lim.MaxMagnetBytes {
		return nil, fmt.Errorf("%d bytes, over the %d-byte limit", len(s), lim.MaxMagnetBytes)
	}
	rest := s[len("magnet:"):]
	rest, _, _ = strings.Cut(rest, "#")
	query, ok := strings.CutPrefix(rest, "?")
	if !ok {
		return nil, errors.New(`missing "?" after "magnet:"`)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("malformed query: %w", err)
	}
	src := &Source{Kind: SourceMagnet}
	var v1, v2 bool
	for _, xt := range q["xt"] {
		switch {
		case hasPrefixFold(xt, "urn:btih:"):
			ih, err := parseV1Hash(xt[len("urn:btih:"):])
			if err != nil {
				return nil, fmt.Errorf("xt %s: %w", quote(xt), err)
			}
			if v1 && ih != src.ih {
				return nil, fmt.Errorf("two different v1 infohashes: %s and %s", src.ih.HexString(), ih.HexString())
			}
			src.ih, v1 = ih, true
		case hasPrefixFold(xt, "urn:btmh:"):
			ih, err := parseV2Hash(xt[len("urn:btmh:"):])
			if err != nil {
				return nil, fmt.Errorf("xt %s: %w", quote(xt), err)
			}
			if v2 && ih != src.ihv2.Value {
				return nil, fmt.Errorf("two different v2 infohashes: %s and %s", src.ihv2.Value.HexString(), ih.HexString())
			}
			src.ihv2.Set(ih)
			v2 = true
		}
	}
	if !v1 && !v2 {
		if len(q["xt"]) == 0 {
			return nil, errors.New("missing xt (the infohash: xt=urn:btih:…)")
		}
		return nil, fmt.Errorf("no BitTorrent infohash among xt %s (want urn:btih: or urn:btmh:)", quote(strings.Join(q["xt"], " ")))
	}
	if dn := q["dn"]; len(dn) > 0 {
		src.name = dn[0]
	}
	tiers := make([][]string, 0, len(q["tr"]))
	for _, tr := range q["tr"] {
		// One tier per tracker, as libtorrent does: each is announced to, none is a mere backup.
		tiers = append(tiers, []string{tr})
	}
	if src.trackers, err = src.cleanTrackers(tiers, lim); err != nil {
		return nil, err
	}
	if src.webSeeds, err = src.cleanWebSeeds(q["ws"], lim); err != nil {
		return nil, err
	}
	for _, pe := range q["x.pe"] {
		if err := checkPeerAddr(pe); err != nil {
			src.warnings = append(src.warnings, textsafe.String(fmt.Sprintf("peer address %s dropped: %v", quote(pe), err)))
			continue
		}
		if !slices.Contains(src.peerAddrs, pe) {
			src.peerAddrs = append(src.peerAddrs, pe)
		}
	}
	if len(src.peerAddrs) > lim.MaxPeerAddrs {
		return nil, fmt.Errorf("%d peer addresses (x.pe), over the limit of %d", len(src.peerAddrs), lim.MaxPeerAddrs)
	}
	if so := q["so"]; len(so) > 0 {
		if src.selection, err = parseSelectOnly(strings.Join(so, ",")); err != nil {
			return nil, fmt.Errorf("so %s: %w", quote(strings.Join(so, ",")), err)
		}
		src.hasSel = true
	}
	return src, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseV1Hash parses a v1 infohash: 40 hex digits or 32 base32 characters, either case.
func parseV1Hash(s string) (metainfo.Hash, error) {
	var ih metainfo.Hash
	var b []byte
	var err error
	switch len(s) {
	case 40:
		b, err = hex.DecodeString(s)
	case 32:
		b, err = base32.StdEncoding.DecodeString(strings.ToUpper(s))
	default:
		err = errors.New("wrong length")
	}
	if err != nil || len(b) != len(ih) {
		return ih, errors.New("not 40 hex or 32 base32 characters")
	}
	copy(ih[:], b)
	if ih.IsZero() {
		// Not a real torrent, and the library panics on a zero infohash.
		return ih, errors.New("all zeros")
	}
	return ih, nil
}

// parseV2Hash parses a BEP 52 infohash: a SHA-256 multihash in hex ("1220" and 64 hex digits).
func parseV2Hash(s string) (infohash_v2.T, error) {
	var ih infohash_v2.T
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 2+len(ih) || b[0] != 0x12 || b[1] != 0x20 {
		return ih, errors.New(`not a SHA-256 multihash ("1220" and 64 hex digits)`)
	}
	copy(ih[:], b[2:])
	if ih == (infohash_v2.T{}) {
		return ih, errors.New("all zeros")
	}
	return ih, nil
}

// checkPeerAddr checks an x.pe value: host:port with a port in 1..65535.
func checkPeerAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// The library's message repeats the input raw: say it ourselves.
		return errors.New("not HOST:PORT")
	}
	if host == "" {
		return errors.New("no host")
	}
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' }) {
		return errors.New("bad host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %s is not in 1..65535", quote(port))
	}
	return nil
}

// parseSelectOnly parses BEP 53 "so": comma-separated file indices and inclusive ranges.
func parseSelectOnly(s string) ([]fileRange, error) {
	var out []fileRange
	for item := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(item, "-")
		first, err1 := strconv.ParseUint(a, 10, 31)
		last := first
		var err2 error
		if isRange {
			last, err2 = strconv.ParseUint(b, 10, 31)
		}
		if err1 != nil || err2 != nil || last < first {
			return nil, fmt.Errorf("%s is not a file index or a range like 2-5", quote(item))
		}
		out = append(out, fileRange{int(first), int(last)})
	}
	return out, nil
}

// cleanTrackers drops empty tiers, duplicates and URLs no tracker client here speaks, with a
// warning for each URL dropped, and enforces MaxTrackers.
func (s *Source) cleanTrackers(tiers [][]string, lim Limits) ([][]string, error) {
	out := [][]string{}
	seen := map[string]bool{}
	n := 0
	for _, tier := range tiers {
		var keep []string
		for _, u := range tier {
			u = strings.TrimSpace(u)
			if seen[u] {
				continue
			}
			seen[u] = true
			if err := checkURL(u, "http", "https", "udp", "ws", "wss"); err != nil {
				s.warnings = append(s.warnings, textsafe.String(fmt.Sprintf("tracker %s dropped: %v", quote(u), err)))
				continue
			}
			keep = append(keep, u)
		}
		if len(keep) > 0 {
			out = append(out, keep)
			n += len(keep)
		}
	}
	if n > lim.MaxTrackers {
		return nil, fmt.Errorf("%d trackers, over the limit of %d", n, lim.MaxTrackers)
	}
	return out, nil
}

func (s *Source) cleanWebSeeds(urls []string, lim Limits) ([]string, error) {
	out := []string{}
	for _, u := range urls {
		u = strings.TrimSpace(u)
		if slices.Contains(out, u) {
			continue
		}
		if err := checkURL(u, "http", "https"); err != nil {
			s.warnings = append(s.warnings, textsafe.String(fmt.Sprintf("web seed %s dropped: %v", quote(u), err)))
			continue
		}
		out = append(out, u)
	}
	if len(out) > lim.MaxWebSeeds {
		return nil, fmt.Errorf("%d web seeds, over the limit of %d", len(out), lim.MaxWebSeeds)
	}
	return out, nil
}

func checkURL(u string, schemes ...string) error {
	p, err := url.Parse(u)
	if err != nil {
		return errors.New("not a URL")
	}
	if !slices.Contains(schemes, strings.ToLower(p.Scheme)) {
		return fmt.Errorf("scheme %s not supported", quote(p.Scheme))
	}
	if p.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// InfoHash returns the v1 infohash in lower-case hex. For a v2-only torrent it is the v2 hash
// truncated to 20 bytes, which is what trackers and the DHT use for it (BEP 52).
func (s *Source) InfoHash() string {
	if s.ih.IsZero() && s.ihv2.Ok {
		return s.ihv2.Value.ToShort().HexString()
	}
	return s.ih.HexString()
}

// InfoHashV2 returns the v2 infohash in hex, or "" if the source has none.
func (s *Source) InfoHashV2() string {
	if !s.ihv2.Ok {
		return ""
	}
	return s.ihv2.Value.HexString()
}

// HasInfo reports whether the source carries the info dictionary (a .torrent), rather than
// needing it from peers (magnet link, infohash).
func (s *Source) HasInfo() bool { return s.info != nil }

// View describes the source. ok is false when the info is not known yet: then only Name,
// the infohashes, Trackers, WebSeeds and Magnet are filled.
func (s *Source) View() (m TorrentMeta, ok bool) {
	if s.info != nil {
		m = metaView(s.mi, s.info)
	} else {
		m = buildMeta(nil, s.ih, s.ihv2, nil, nil)
		m.Name = textsafe.String(s.name)
	}
	// The cleaned lists, which are what the engine uses.
	clean := buildMeta(nil, s.ih, s.ihv2, s.trackers, s.webSeeds)
	m.Trackers, m.WebSeeds = clean.Trackers, clean.WebSeeds
	m.Magnet = s.magnetURI()
	return m, s.info != nil
}

// DisplayName is the name to show for the source, terminal-safe: the torrent's name, else the
// magnet link's dn, else the infohash.
func (s *Source) DisplayName() string {
	if s.name != "" {
		return textsafe.String(s.name)
	}
	return s.InfoHash()
}

// Trackers returns the usable tracker URLs by tier (a copy).
func (s *Source) Trackers() [][]string {
	out := make([][]string, len(s.trackers))
	for i, tier := range s.trackers {
		out[i] = slices.Clone(tier)
	}
	return out
}

// WebSeeds returns the usable web seed URLs (a copy).
func (s *Source) WebSeeds() []string { return slices.Clone(s.webSeeds) }

// PeerAddrs returns the magnet link's x.pe peer addresses (host:port), to dial directly.
func (s *Source) PeerAddrs() []string { return slices.Clone(s.peerAddrs) }

// Warnings lists what was dropped while parsing (unusable trackers, web seeds, peer
// addresses), already terminal-safe, for the caller to show.
func (s *Source) Warnings() []string { return slices.Clone(s.warnings) }

// SelectedFiles applies a magnet link's BEP 53 "so" parameter to a torrent of numFiles files:
// the selected indices in order, with indices past the end ignored. ok is false when the link
// selected nothing explicitly, meaning every file.
func (s *Source) SelectedFiles(numFiles int) (idx []int, ok bool) {
	if !s.hasSel {
		return nil, false
	}
	sel := make([]bool, numFiles)
	for _, r := range s.selection {
		for i := r.first; i <= r.last && i < numFiles; i++ {
			sel[i] = true
		}
	}
	idx = []int{}
	for i, v := range sel {
		if v {
			idx = append(idx, i)
		}
	}
	return idx, true
}

// magnetURI is a magnet link for the source, rebuilt from the checked values.
func (s *Source) magnetURI() string {
	return magnetLink(s.ih, s.ihv2, s.name, s.trackers, s.webSeeds, s.peerAddrs)
}

// spec is what the engine hands the library. For a v2-only torrent InfoHash is zero and
// InfoHashV2 set, which the library accepts.
func (s *Source) spec() (*torrent.TorrentSpec, error) {
	if s.mi != nil {
		spec, err := torrent.TorrentSpecFromMetaInfoErr(s.mi)
		if err != nil {
			return nil, badSource(err)
		}
		spec.Trackers = s.Trackers()
		spec.Webseeds = s.WebSeeds()
		return spec, nil
	}
	return &torrent.TorrentSpec{
		AddTorrentOpts: torrent.AddTorrentOpts{InfoHash: s.ih, InfoHashV2: s.ihv2},
		Trackers:       s.Trackers(),
		DisplayName:    s.name,
		Webseeds:       s.WebSeeds(),
		PeerAddrs:      s.PeerAddrs(),
	}, nil
}
