package tracker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"shoal/tracker/store"
)

// Logic is what the front ends call: protocol-agnostic announce and scrape. Errors that a
// client may see are ClientError; any other error is internal.
type Logic interface {
	// Announce handles one announce. resp's Peers capacity is reused.
	Announce(ctx context.Context, req *AnnounceRequest, resp *AnnounceResponse) error
	// Scrape handles one scrape. resp's slices' capacity is reused.
	Scrape(ctx context.Context, req *ScrapeRequest, resp *ScrapeResponse) error
}

// logic is the tracker's Logic: sanitize, access check, store.
type logic struct {
	store       store.Store
	access      *access
	limits      limits
	interval    time.Duration
	minInterval time.Duration
}

var _ Logic = (*logic)(nil)

func (l *logic) Announce(ctx context.Context, req *AnnounceRequest, resp *AnnounceResponse) error {
	if err := l.limits.sanitizeAnnounce(req); err != nil {
		return err
	}
	if err := l.access.check(req.InfoHash, req.Passkey); err != nil {
		return err
	}
	a := store.Announce{InfoHash: req.InfoHash, Peer: req.Addr, Left: req.Left, Event: req.Event, NumWant: req.NumWant}
	peers, counts, err := l.store.Announce(ctx, a, resp.Peers[:0])
	if err != nil {
		if errors.Is(err, store.ErrTooManyTorrents) {
			return ClientError("tracker is full: it tracks too many torrents to add this one")
		}
		return fmt.Errorf("announce %v from %v: %w", req.InfoHash, req.Addr, err)
	}
	*resp = AnnounceResponse{
		Interval:    l.interval,
		MinInterval: l.minInterval,
		Complete:    counts.Complete,
		Incomplete:  counts.Incomplete,
		Peers:       peers,
	}
	return nil
}

func (l *logic) Scrape(ctx context.Context, req *ScrapeRequest, resp *ScrapeResponse) error {
	if err := l.limits.sanitizeScrape(req); err != nil {
		return err
	}
	if err := l.access.checkPasskey(req.Passkey); err != nil {
		return err
	}
	resp.InfoHashes = append(resp.InfoHashes[:0], req.InfoHashes...)
	counts, err := l.store.Scrape(ctx, resp.InfoHashes, resp.Counts[:0])
	if err != nil {
		return fmt.Errorf("scrape %d infohashes: %w", len(req.InfoHashes), err)
	}
	// A torrent not served scrapes as zeros rather than failing the whole scrape: zeros tell
	// nothing, and a client scraping many torrents still gets the others.
	for i, h := range resp.InfoHashes {
		if !l.access.allows(h) {
			counts[i] = store.Counts{}
		}
	}
	resp.Counts = counts
	return nil
}
