package tracker

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"

	"shoal/tracker/store"
)

// BEP 15 wire format.
const (
	udpProtocolID = 0x41727101980

	actionConnect  = 0
	actionAnnounce = 1
	actionScrape   = 2
	actionError    = 3

	udpHeaderLen        = 16 // connection ID, action, transaction ID
	udpAnnounceLen      = 98
	udpAnnounceReplyLen = 20
	// udpMaxScrapeHashes is BEP 15's limit: about 74 infohashes fit in one packet.
	udpMaxScrapeHashes = 74
	// udpMaxURLData bounds the BEP 41 URL data kept from an announce.
	udpMaxURLData = 1024
)

// udpHeader is the start of every request.
type udpHeader struct {
	connID uint64
	action uint32
	txID   uint32
}

// parseUDPHeader reads a request's first 16 bytes; false if the packet is shorter.
func parseUDPHeader(p []byte) (udpHeader, bool) {
	if len(p) < udpHeaderLen {
		return udpHeader{}, false
	}
	return udpHeader{
		connID: binary.BigEndian.Uint64(p[0:8]),
		action: binary.BigEndian.Uint32(p[8:12]),
		txID:   binary.BigEndian.Uint32(p[12:16]),
	}, true
}

// udpAnnounce is what an announce packet says.
type udpAnnounce struct {
	req     AnnounceRequest // Addr holds only the port
	port    uint16
	ip      [4]byte // the IP field; zero means "the sender's address"
	urlData []byte  // BEP 41 URL data (path and query), a sub-slice of urlBuf
	urlBuf  [udpMaxURLData]byte
}

// parseUDPAnnounce parses a whole announce packet (header included).
func parseUDPAnnounce(p []byte, out *udpAnnounce) error {
	if len(p) < udpAnnounceLen {
		return clientErrorf("announce packet is %d bytes, want at least %d", len(p), udpAnnounceLen)
	}
	out.req = AnnounceRequest{}
	copy(out.req.InfoHash[:], p[16:36])
	copy(out.req.PeerID[:], p[36:56])
	out.req.Downloaded = binary.BigEndian.Uint64(p[56:64])
	left := binary.BigEndian.Uint64(p[64:72])
	if left > math.MaxInt64 {
		return clientErrorf("left is negative: %d", int64(left))
	}
	out.req.Left = left
	out.req.Uploaded = binary.BigEndian.Uint64(p[72:80])
	ev := binary.BigEndian.Uint32(p[80:84])
	if ev > uint32(store.EventStopped) {
		return clientErrorf("unknown event %d", ev)
	}
	out.req.Event = store.Event(ev)
	copy(out.ip[:], p[84:88])
	// p[88:92] is the key, which the tracker does not use.
	out.req.NumWant = int(int32(binary.BigEndian.Uint32(p[92:96])))
	out.port = binary.BigEndian.Uint16(p[96:98])
	var err error
	out.urlData, err = parseBEP41Options(p[98:], out.urlBuf[:0])
	return err
}

// parseBEP41Options reads the options after an announce (BEP 41) and appends their URL data
// to dst. Unknown option types end the parse, as the BEP asks.
func parseBEP41Options(opts, dst []byte) ([]byte, error) {
	for len(opts) > 0 {
		switch opts[0] {
		case 0x0: // EndOfOptions
			return dst, nil
		case 0x1: // NOP
			opts = opts[1:]
		case 0x2: // URLData
			if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
				return dst, ClientError("BEP 41 URL data option is cut off")
			}
			n := int(opts[1])
			if len(dst)+n > cap(dst) {
				return dst, clientErrorf("BEP 41 URL data is longer than %d bytes", cap(dst))
			}
			dst = append(dst, opts[2:2+n]...)
			opts = opts[2+n:]
		default:
			return dst, nil
		}
	}
	return dst, nil
}

// passkeyFromURLData returns the passkey of a BEP 41 path "/<passkey>/announce", "" for
// "/announce" or no path, and an error for any other path.
func passkeyFromURLData(urlData []byte) (string, error) {
	if len(urlData) == 0 {
		return "", nil
	}
	path, _, _ := bytes.Cut(urlData, []byte{'?'})
	if len(path) == 0 || path[0] != '/' {
		return "", clientErrorf("BEP 41 path %q does not start with /", quoted(path))
	}
	r, passkey := routePath(path)
	if r != routeAnnounce {
		return "", clientErrorf("BEP 41 path %q is not an announce path", quoted(path))
	}
	return string(passkey), nil
}

// parseUDPScrape appends the infohashes of a scrape packet to hashes, at most max of them.
func parseUDPScrape(p []byte, hashes []store.InfoHash, max int) ([]store.InfoHash, error) {
	body := p[udpHeaderLen:]
	if len(body) < 20 {
		return hashes, ClientError("scrape packet has no infohash")
	}
	for len(body) >= 20 && len(hashes) < max {
		hashes = append(hashes, store.InfoHash(body[:20]))
		body = body[20:]
	}
	return hashes, nil
}

func appendUDPReplyHeader(b []byte, action, txID uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, action)
	return binary.BigEndian.AppendUint32(b, txID)
}

func appendUDPConnectReply(b []byte, txID uint32, connID uint64) []byte {
	b = appendUDPReplyHeader(b, actionConnect, txID)
	return binary.BigEndian.AppendUint64(b, connID)
}

func appendUDPAnnounceReply(b []byte, txID uint32, r *AnnounceResponse) []byte {
	b = appendUDPReplyHeader(b, actionAnnounce, txID)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Interval.Seconds()))
	b = binary.BigEndian.AppendUint32(b, clampU32(r.Incomplete))
	b = binary.BigEndian.AppendUint32(b, clampU32(r.Complete))
	return appendCompactPeersRaw(b, r.Peers)
}

func appendUDPScrapeReply(b []byte, txID uint32, r *ScrapeResponse) []byte {
	b = appendUDPReplyHeader(b, actionScrape, txID)
	for _, c := range r.Counts {
		b = binary.BigEndian.AppendUint32(b, clampU32(c.Complete))
		b = binary.BigEndian.AppendUint32(b, clampU32(c.Downloaded))
		b = binary.BigEndian.AppendUint32(b, clampU32(c.Incomplete))
	}
	return b
}

// appendUDPError writes an error reply, cutting the message so the reply fits in maxLen.
func appendUDPError(b []byte, txID uint32, msg string, maxLen int) []byte {
	b = appendUDPReplyHeader(b, actionError, txID)
	if room := maxLen - 8; len(msg) > room {
		msg = msg[:max(room, 0)]
	}
	return append(b, msg...)
}

func clampU32(n int) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}

// udpPeerAddr returns the address an announce records: the sender's unless the IP field is
// set and trusted (IPv4 only, as in BEP 15).
func udpPeerAddr(sender netip.Addr, ipField [4]byte, trust bool) netip.Addr {
	if trust && ipField != [4]byte{} {
		return netip.AddrFrom4(ipField)
	}
	return sender
}
