package tracker

import (
	"bytes"
	"net"
	"strconv"
)

// A scrape names its torrents in the request line, so a client scraping many torrents sends a
// line far longer than the per-connection buffer (10,000 escaped hashes are 700 KB). Rather than
// refuse it, the front end streams such a line: when the buffer fills with a request line that
// is a GET of a scrape path, streamScrape reads the rest of the line through a scrapeScanner,
// which keeps the first MaxScrapeHashes hashes and checks and drops the others, up to
// HTTPMaxScrapeLineBytes. Nothing is buffered beyond the connection's fixed buffer; any other
// request that does not fit the buffer is still refused.

// scrapeLineReserve is the room kept at the start of the buffer while streaming, for the
// request line that stands in for the streamed one: "GET " path " " version "\r\n".
const (
	scrapeMaxVersion  = maxQuotedValue + 1 // enough for parseHead's error to quote it as it would the whole
	scrapeMaxPath     = 1 + maxPasskeyLen + 1 + len("scrape")
	scrapeLineReserve = len("GET ") + scrapeMaxPath + 1 + scrapeMaxVersion + len("\r\n")
)

// streamOutcome says how streamScrape ended.
type streamOutcome uint8

const (
	streamDone     streamOutcome = iota // the request line was read; serve the head at start
	streamRefused                       // not a streamable scrape, or too long: reply msg, close
	streamConnGone                      // read error or shutdown: close without a reply
)

// streamScrape is called when in (full, holding the start of a request from offset 0) holds no
// whole request head. If the request line is a GET of a scrape path with a query, it scans the
// query into b.scan, reading the rest of the line from c if need be, then rewrites the line
// without its query in front of what follows it (headers, maybe pipelined requests) and sets
// b.streamed: the serve loop then reads and parses the head as usual and handle takes the
// hashes from b.scan. It returns the new start and end of the buffered bytes.
func (f *httpFront) streamScrape(c net.Conn, b *connBuffers, in []byte) (start, end int, out streamOutcome, msg string) {
	tooLarge := "request too large: the tracker accepts at most " + strconv.Itoa(len(in)) + " bytes of request line and headers"
	if len(in) <= 2*scrapeLineReserve {
		return 0, 0, streamRefused, tooLarge
	}
	// "GET " path "?": the query may run past the buffer, or end in it followed by headers
	// too large for what is left.
	rest, ok := bytes.CutPrefix(in, []byte("GET "))
	if !ok {
		return 0, 0, streamRefused, tooLarge
	}
	pathLen := bytes.IndexAny(rest, "? \n")
	if pathLen <= 0 || rest[pathLen] != '?' || pathLen > scrapeMaxPath || rest[0] != '/' {
		return 0, 0, streamRefused, tooLarge
	}
	path := rest[:pathLen]
	if r, _ := routePath(path); r != routeScrape {
		return 0, 0, streamRefused, tooLarge
	}
	var line [scrapeLineReserve]byte // the stand-in request line
	n := copy(line[:], "GET ")
	n += copy(line[n:], path)
	n += copy(line[n:], " ")
	b.scan.reset(b.scrape.InfoHashes[:0], f.cfg.MaxScrapeHashes)
	chunkAt := len("GET ") + pathLen + 1 // where chunk starts in in
	chunk := in[chunkAt:]
	lineBytes := chunkAt
	inVersion := false // past the space that ends the request target
	versionLen, versionTotal := 0, 0
	for {
		lineEnd := bytes.IndexByte(chunk, '\n')
		scan := chunk
		if lineEnd >= 0 {
			scan = chunk[:lineEnd]
		}
		lineBytes += len(scan)
		if lineBytes >= f.cfg.HTTPMaxScrapeLineBytes { // the line end counts too
			if chunkAt == len("GET ")+pathLen+1 {
				return 0, 0, streamRefused, tooLarge // not even streaming would take it
			}
			return 0, 0, streamRefused, "request too large: a scrape's request line may be at most " + strconv.Itoa(f.cfg.HTTPMaxScrapeLineBytes) + " bytes"
		}
		if !inVersion {
			q := scan
			if sp := bytes.IndexByte(scan, ' '); sp >= 0 {
				q, scan, inVersion = scan[:sp], scan[sp+1:], true
			} else {
				scan = nil
			}
			b.scan.feed(q)
		}
		if inVersion {
			// The version may come in pieces; keep its first bytes (more than any valid one,
			// and all that an error message quotes).
			versionLen += copy(line[n+versionLen:n+scrapeMaxVersion], scan)
			versionTotal += len(scan)
		}
		if lineEnd >= 0 {
			if !inVersion {
				// No version: a line parseHead refuses as malformed once the head is whole,
				// as it would have refused the original.
				n-- // the space after the path
			}
			if versionLen > 0 && versionLen == versionTotal && line[n+versionLen-1] == '\r' {
				versionLen-- // the CR of a CRLF line end (a cut-off version fails parseHead anyway)
			}
			n += versionLen
			n += copy(line[n:], "\r\n")
			// The stand-in is never longer than the line it replaces, nor than the reserve.
			start = chunkAt + lineEnd + 1 - n
			copy(in[start:], line[:n])
			b.streamed = true
			return start, chunkAt + len(chunk), streamDone, ""
		}
		if f.stopped.Load() {
			return 0, 0, streamConnGone, ""
		}
		// The serve loop armed the request's read deadline: the slowloris defence covers the
		// whole request, streamed or not.
		nr, err := c.Read(in[scrapeLineReserve:])
		if nr == 0 && err != nil {
			return 0, 0, streamConnGone, ""
		}
		chunkAt, chunk = scrapeLineReserve, in[scrapeLineReserve:scrapeLineReserve+nr]
	}
}
