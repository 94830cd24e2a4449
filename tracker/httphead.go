package tracker

import (
	"bytes"
)

// The HTTP front end reads requests itself rather than through net/http: a tracker serves only
// GETs of two paths, and owning the reader lets it answer every bad request (including one too
// large to buffer) with a bencoded failure, keep one fixed buffer per connection, and skip
// net/http's per-request allocations.

// requestHead is the parsed request line and the headers the tracker cares about. Its slices
// point into the connection's buffer and are valid until the next read.
type requestHead struct {
	method        []byte
	path          []byte
	query         []byte
	http10        bool
	close         bool // Connection: close (HTTP/1.1) or no keep-alive (HTTP/1.0)
	hasBody       bool // Content-Length > 0 or Transfer-Encoding: the tracker reads no bodies
	forwardedFor  []byte
	badHeaderLine bool
}

// findHeadEnd returns the length of the request head at the start of b (through the empty line
// that ends it), or -1 if b does not hold a whole head yet. Bare LF line ends are accepted.
func findHeadEnd(b []byte) int {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// skipLeadingNewlines drops the empty lines a client may send between requests (RFC 9112 §2.2).
func skipLeadingNewlines(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// parseHead parses a whole request head (as found by findHeadEnd). It returns a ClientError for
// a request the tracker will not serve.
func parseHead(b []byte, h *requestHead) error {
	*h = requestHead{}
	line, rest := nextLine(b)
	method, line, ok1 := bytes.Cut(line, []byte{' '})
	target, version, ok2 := bytes.Cut(line, []byte{' '})
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 {
		return ClientError("malformed HTTP request line")
	}
	h.method = method
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.http10, h.close = true, true
	default:
		return clientErrorf("unsupported HTTP version %q", quoted(version))
	}
	if target[0] != '/' {
		return ClientError("request target must be a path")
	}
	h.path, h.query, _ = bytes.Cut(target, []byte{'?'})
	for len(rest) > 0 {
		line, rest = nextLine(rest)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 {
			h.badHeaderLine = true
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "connection"):
			switch {
			case containsToken(value, "close"):
				h.close = true
			case containsToken(value, "keep-alive"):
				h.close = false
			}
		case asciiEqualFold(name, "content-length"):
			if !(len(value) == 1 && value[0] == '0') {
				h.hasBody = true
			}
		case asciiEqualFold(name, "transfer-encoding"):
			h.hasBody = true
		case asciiEqualFold(name, "x-forwarded-for"):
			// Several headers mean a list; keep them all joined as the RFC says.
			if h.forwardedFor == nil {
				h.forwardedFor = value
			} else {
				h.forwardedFor = append(append(append([]byte(nil), h.forwardedFor...), ','), value...)
			}
		}
	}
	if h.badHeaderLine {
		return ClientError("malformed HTTP header line")
	}
	return nil
}

// nextLine splits off the first line of b without its line end.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// containsToken reports whether the comma-separated list v has token (case-insensitive).
func containsToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte{','})
		if asciiEqualFold(bytes.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// route says what a path asks for.
type route uint8

const (
	routeNotFound route = iota
	routeAnnounce
	routeScrape
)

// routePath maps /announce, /scrape, /<passkey>/announce and /<passkey>/scrape.
func routePath(path []byte) (r route, passkey []byte) {
	p := path[1:]
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		passkey, p = p[:i], p[i+1:]
		if len(passkey) == 0 || len(passkey) > maxPasskeyLen {
			return routeNotFound, nil
		}
	}
	switch string(p) {
	case "announce":
		return routeAnnounce, passkey
	case "scrape":
		return routeScrape, passkey
	}
	return routeNotFound, nil
}
