package tracker

import (
	"bytes"
	"math"
	"net/netip"

	"shoal/tracker/store"
)

// The query parser works on the raw bytes of the request, decoding only the values it needs
// into fixed-size arrays: no map, no strings, no allocation for a well-formed announce.

// announceQuery is what an announce's query string says.
type announceQuery struct {
	req     AnnounceRequest // Addr holds only the port: the front end picks the address
	port    uint16
	compact bool
	ip      []byte // the raw ip= value (a sub-slice of the query), nil if absent
}

// maxQuotedValue bounds how much of a bad value an error message repeats.
const maxQuotedValue = 40

func quoted(v []byte) string {
	if len(v) > maxQuotedValue {
		return string(v[:maxQuotedValue]) + "…"
	}
	return string(v)
}

// parseAnnounceQuery parses an announce query (BEP 3, BEP 23). Required: info_hash (once),
// peer_id, port, left. Unknown parameters are ignored; a bad value of a known one is a
// ClientError naming it.
func parseAnnounceQuery(q []byte, out *announceQuery) error {
	*out = announceQuery{compact: true, req: AnnounceRequest{NumWant: -1}}
	var haveHash, havePeerID, havePort, haveLeft bool
	for len(q) > 0 {
		var param []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			param, q = q[:i], q[i+1:]
		} else {
			param, q = q, nil
		}
		key, value, _ := bytes.Cut(param, []byte{'='})
		switch string(key) { // no allocation: the compiler compares in place
		case "info_hash":
			if haveHash {
				return ClientError("info_hash given more than once")
			}
			if err := unescape20(value, (*[20]byte)(&out.req.InfoHash), "info_hash"); err != nil {
				return err
			}
			haveHash = true
		case "peer_id":
			if err := unescape20(value, &out.req.PeerID, "peer_id"); err != nil {
				return err
			}
			havePeerID = true
		case "port":
			n, err := parseUint(value, "port")
			if err != nil {
				return err
			}
			if n > math.MaxUint16 {
				return clientErrorf("port %d is out of range", n)
			}
			out.port, havePort = uint16(n), true
		case "left":
			n, err := parseUint(value, "left")
			if err != nil {
				return err
			}
			out.req.Left, haveLeft = n, true
		case "uploaded":
			n, err := parseUint(value, "uploaded")
			if err != nil {
				return err
			}
			out.req.Uploaded = n
		case "downloaded":
			n, err := parseUint(value, "downloaded")
			if err != nil {
				return err
			}
			out.req.Downloaded = n
		case "numwant", "num_want":
			n, err := parseNumWant(value)
			if err != nil {
				return err
			}
			out.req.NumWant = n
		case "event":
			switch string(value) {
			case "", "empty", "paused": // BEP 21's "paused" is a plain announce here
				out.req.Event = store.EventNone
			case "started":
				out.req.Event = store.EventStarted
			case "stopped":
				out.req.Event = store.EventStopped
			case "completed":
				out.req.Event = store.EventCompleted
			default:
				return clientErrorf("unknown event %q", quoted(value))
			}
		case "compact":
			out.compact = string(value) != "0"
		case "ip":
			out.ip = value
		}
	}
	switch {
	case !haveHash:
		return ClientError("missing info_hash")
	case !havePeerID:
		return ClientError("missing peer_id")
	case !havePort:
		return ClientError("missing port")
	case !haveLeft:
		return ClientError("missing left")
	}
	out.req.Addr = netip.AddrPortFrom(netip.Addr{}, out.port)
	return nil
}

// parseScrapeQuery appends the info_hash values of a scrape query to hashes, up to max of them;
// further ones are checked but dropped (truncated reply, not failure). The first bad info_hash
// is the error.
func parseScrapeQuery(q []byte, hashes []store.InfoHash, max int) ([]store.InfoHash, error) {
	var s scrapeScanner
	s.reset(hashes, max)
	s.feed(q)
	return s.finish()
}

// scrapeScanner parses the info_hash parameters of a scrape query fed to it in pieces of any
// size, split anywhere, with no more state than the hash being decoded: the HTTP front end
// streams the request line of a scrape too long for its buffer through it, so a scrape of
// 10,000 hashes costs no buffer of its size. Its results are those of parsing the whole query
// at once, by the rules of unescape20 (fuzz-checked against the one-piece parser).
type scrapeScanner struct {
	hashes []store.InfoHash
	max    int
	err    error // the first bad info_hash; everything after it is ignored

	state  uint8
	keyLen uint8   // bytes of the key so far, all matching "info_hash" (scanKey)
	n      uint8   // bytes of the current hash decoded so far (scanHash)
	escLen uint8   // bytes of a %-escape seen so far, '%' included; 0 outside one
	esc    [3]byte // the %-escape being read
	cur    store.InfoHash
}

const (
	scanKey  = iota // in a parameter's key
	scanHash        // in an info_hash value
	scanSkip        // in any other parameter, up to the next '&'
	scanDone        // after an error
)

func (s *scrapeScanner) reset(hashes []store.InfoHash, max int) {
	*s = scrapeScanner{hashes: hashes, max: max}
}

// feed scans the next piece of the query.
func (s *scrapeScanner) feed(p []byte) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.state {
		case scanKey:
			switch {
			case c == '&':
				if int(s.keyLen) == len("info_hash") { // "info_hash" without '=': an empty value
					s.endHash()
				}
				s.keyLen = 0
			case c == '=':
				if int(s.keyLen) == len("info_hash") {
					s.state, s.n, s.escLen = scanHash, 0, 0
				} else {
					s.state = scanSkip
				}
			case int(s.keyLen) < len("info_hash") && c == "info_hash"[s.keyLen]:
				s.keyLen++
			default:
				s.state = scanSkip
			}
		case scanSkip:
			j := bytes.IndexByte(p[i:], '&')
			if j < 0 {
				return
			}
			i += j
			s.state, s.keyLen = scanKey, 0
		case scanHash:
			if c == '&' {
				s.endHash()
				if s.state != scanDone {
					s.state, s.keyLen = scanKey, 0
				}
				continue
			}
			if s.escLen > 0 || c == '%' {
				s.esc[s.escLen] = c
				s.escLen++
				if s.escLen < 3 {
					continue
				}
				s.escLen = 0
				hi, ok1 := unhex(s.esc[1])
				lo, ok2 := unhex(s.esc[2])
				if !ok1 || !ok2 {
					s.fail(clientErrorf("info_hash has a bad %%-escape %q", s.esc[:]))
					return
				}
				c = hi<<4 | lo
			} else if c == '+' {
				c = ' '
			}
			if int(s.n) == len(s.cur) {
				s.fail(ClientError("info_hash is longer than 20 bytes"))
				return
			}
			s.cur[s.n] = c
			s.n++
		case scanDone:
			return
		}
	}
}

// endHash ends an info_hash value.
func (s *scrapeScanner) endHash() {
	switch {
	case s.state == scanHash && s.escLen > 0:
		s.fail(ClientError("info_hash has a cut-off %-escape"))
	case s.state == scanHash && int(s.n) != len(s.cur):
		s.fail(clientErrorf("info_hash is %d bytes, want 20", s.n))
	case s.state == scanKey: // "info_hash" with no '=' at all
		s.fail(ClientError("info_hash is 0 bytes, want 20"))
	case len(s.hashes) < s.max:
		s.hashes = append(s.hashes, s.cur)
	}
}

func (s *scrapeScanner) fail(err error) {
	s.err, s.state = err, scanDone
}

// finish ends the query and returns the hashes kept and the first error.
func (s *scrapeScanner) finish() ([]store.InfoHash, error) {
	switch s.state {
	case scanHash:
		s.endHash()
	case scanKey:
		if int(s.keyLen) == len("info_hash") {
			s.endHash()
		}
	}
	s.state = scanDone
	return s.hashes, s.err
}

// unescape20 percent-decodes v into dst, which it must fill exactly.
func unescape20(v []byte, dst *[20]byte, name string) error {
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '%':
			if i+2 >= len(v) {
				return clientErrorf("%s has a cut-off %%-escape", name)
			}
			hi, ok1 := unhex(v[i+1])
			lo, ok2 := unhex(v[i+2])
			if !ok1 || !ok2 {
				return clientErrorf("%s has a bad %%-escape %q", name, v[i:i+3])
			}
			c = hi<<4 | lo
			i += 2
		case '+':
			c = ' '
		}
		if n == len(dst) {
			return clientErrorf("%s is longer than 20 bytes", name)
		}
		dst[n] = c
		n++
	}
	if n != len(dst) {
		return clientErrorf("%s is %d bytes, want 20", name, n)
	}
	return nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseUint reads a decimal count. A leading '-' is reported as negative (clients with bugs
// send "left=-1"), anything else not a digit as not a number.
func parseUint(v []byte, name string) (uint64, error) {
	if len(v) == 0 {
		return 0, clientErrorf("%s is empty", name)
	}
	if v[0] == '-' {
		return 0, clientErrorf("%s is negative: %q", name, quoted(v))
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, clientErrorf("%s is not a number: %q", name, quoted(v))
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, clientErrorf("%s is too large: %q", name, quoted(v))
		}
		n = n*10 + d
	}
	return n, nil
}

// parseNumWant reads numwant: negative means "the default" (-1 is common), huge values
// saturate; the sanitize step clamps.
func parseNumWant(v []byte) (int, error) {
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 {
		return 0, ClientError("numwant is not a number")
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, clientErrorf("numwant is not a number: %q", quoted(v))
		}
		if n < math.MaxInt32 {
			n = n*10 + int(c-'0')
		}
	}
	if neg {
		return -1, nil
	}
	return min(n, math.MaxInt32), nil
}
