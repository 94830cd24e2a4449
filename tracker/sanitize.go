package tracker

import (
	"net/netip"
)

// limits are the named bounds the sanitize step applies, taken from Config.
type limits struct {
	defaultNumWant  int
	maxNumWant      int
	maxScrapeHashes int
}

// sanitizeAnnounce is the one place an announce is checked and normalised before it reaches
// the store, whatever protocol carried it: the address family is normalised (IPv4-mapped IPv6
// becomes IPv4), an unusable address or port 0 is rejected, numwant is defaulted and clamped.
func (l limits) sanitizeAnnounce(req *AnnounceRequest) error {
	addr := req.Addr.Addr().Unmap()
	switch {
	case !addr.IsValid():
		return ClientError("no usable peer address")
	case addr.IsUnspecified() || addr.IsMulticast():
		return clientErrorf("peer address %v is not usable", addr)
	case req.Addr.Port() == 0:
		return ClientError("port 0 is not usable")
	}
	if addr.Zone() != "" {
		addr = addr.WithZone("")
	}
	req.Addr = netip.AddrPortFrom(addr, req.Addr.Port())
	switch {
	case req.NumWant < 0:
		req.NumWant = l.defaultNumWant
	case req.NumWant > l.maxNumWant:
		req.NumWant = l.maxNumWant
	}
	return nil
}

// sanitizeScrape drops the infohashes beyond the scrape limit.
func (l limits) sanitizeScrape(req *ScrapeRequest) error {
	if len(req.InfoHashes) == 0 {
		return ClientError("scrape needs at least one info_hash (full scrapes are not served)")
	}
	if len(req.InfoHashes) > l.maxScrapeHashes {
		req.InfoHashes = req.InfoHashes[:l.maxScrapeHashes]
	}
	return nil
}
