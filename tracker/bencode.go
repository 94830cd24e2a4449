package tracker

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"

	"shoal/tracker/store"
)

// The replies are few and fixed, so they are bencoded by appending to a buffer: no reflection
// and no allocation on the announce path. Dictionary keys are written in sorted order, as
// bencode requires.

func appendBString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendBInt(b []byte, i int64) []byte {
	b = append(b, 'i')
	b = strconv.AppendInt(b, i, 10)
	return append(b, 'e')
}

// appendFailure writes {"failure reason": msg}.
func appendFailure(b []byte, msg string) []byte {
	b = append(b, "d14:failure reason"...)
	b = appendBString(b, msg)
	return append(b, 'e')
}

// compactPeerSize returns the size of one peer in the compact format of ip's family.
func compactPeerSize(is4 bool) int {
	if is4 {
		return 6
	}
	return 18
}

// appendCompactPeers writes peers as a bencoded string of 6-byte (IPv4) or 18-byte (IPv6)
// entries, address then big-endian port (BEP 23, BEP 7).
func appendCompactPeers(b []byte, peers []netip.AddrPort, is4 bool) []byte {
	b = strconv.AppendInt(b, int64(len(peers)*compactPeerSize(is4)), 10)
	b = append(b, ':')
	return appendCompactPeersRaw(b, peers)
}

// appendCompactPeersRaw writes peers in the compact format without a length prefix (as UDP
// replies carry them).
func appendCompactPeersRaw(b []byte, peers []netip.AddrPort) []byte {
	for _, p := range peers {
		if a := p.Addr(); a.Is4() {
			ip := a.As4()
			b = append(b, ip[:]...)
		} else {
			ip := a.As16()
			b = append(b, ip[:]...)
		}
		b = append(b, byte(p.Port()>>8), byte(p.Port()))
	}
	return b
}

// appendAnnounceReply writes a successful HTTP announce reply. Peers of the requester's family
// go in "peers" (IPv4) or "peers6" (IPv6) when compact; otherwise "peers" is a list of
// dictionaries (BEP 3) without "peer id", which the tracker does not keep.
func appendAnnounceReply(b []byte, r *AnnounceResponse, is4, compact bool) []byte {
	b = append(b, "d8:complete"...)
	b = appendBInt(b, int64(r.Complete))
	b = append(b, "10:incomplete"...)
	b = appendBInt(b, int64(r.Incomplete))
	b = append(b, "8:interval"...)
	b = appendBInt(b, int64(r.Interval.Seconds()))
	b = append(b, "12:min interval"...)
	b = appendBInt(b, int64(r.MinInterval.Seconds()))
	b = append(b, "5:peers"...)
	switch {
	case !compact:
		b = append(b, 'l')
		for _, p := range r.Peers {
			b = append(b, "d2:ip"...)
			var ipText [64]byte
			ip := p.Addr().AppendTo(ipText[:0])
			b = strconv.AppendInt(b, int64(len(ip)), 10)
			b = append(b, ':')
			b = append(b, ip...)
			b = append(b, "4:port"...)
			b = appendBInt(b, int64(p.Port()))
			b = append(b, 'e')
		}
		b = append(b, 'e')
	case is4:
		b = appendCompactPeers(b, r.Peers, true)
	default:
		// Some clients insist on a "peers" key: give an empty one beside "peers6".
		b = append(b, "0:6:peers6"...)
		b = appendCompactPeers(b, r.Peers, false)
	}
	return append(b, 'e')
}

// appendScrapeReply writes an HTTP scrape reply (BEP 48). A dictionary cannot repeat a key and
// must have its keys sorted, so the infohashes are sorted and each written once.
func appendScrapeReply(b []byte, r *ScrapeResponse, order []int) ([]byte, []int) {
	order = order[:0]
	for i := range r.InfoHashes {
		order = append(order, i)
	}
	slices.SortFunc(order, func(x, y int) int {
		return cmp.Compare(string(r.InfoHashes[x][:]), string(r.InfoHashes[y][:]))
	})
	b = append(b, "d5:filesd"...)
	var last *store.InfoHash
	for _, i := range order {
		h := &r.InfoHashes[i]
		if last != nil && *last == *h {
			continue
		}
		last = h
		c := r.Counts[i]
		b = append(b, "20:"...)
		b = append(b, h[:]...)
		b = append(b, "d8:complete"...)
		b = appendBInt(b, int64(c.Complete))
		b = append(b, "10:downloaded"...)
		b = appendBInt(b, int64(c.Downloaded))
		b = append(b, "10:incomplete"...)
		b = appendBInt(b, int64(c.Incomplete))
		b = append(b, 'e')
	}
	return append(b, "ee"...), order
}
