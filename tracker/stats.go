package tracker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"shoal/tracker/store"
)

// stats counts what the front ends did. Counters only grow; rates come from samples taken
// once a second by run.
type stats struct {
	announcesHTTP, announcesUDP atomic.Uint64
	scrapesHTTP, scrapesUDP     atomic.Uint64
	udpConnects                 atomic.Uint64
	clientErrors                atomic.Uint64 // requests rejected with a ClientError
	internalErrors              atomic.Uint64
	httpConnsRefused            atomic.Uint64 // over HTTPMaxConns
	udpDropped                  atomic.Uint64 // packets not answered (too short, not BEP 15)

	mu      sync.Mutex
	samples [rateWindow + 1]sample // ring
	next    int
	filled  int
}

// rateWindow is how many one-second samples a rate averages over.
const rateWindow = 10

type sample struct {
	at                 time.Time
	announces, scrapes uint64
}

func (s *stats) take(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples[s.next] = sample{
		at:        now,
		announces: s.announcesHTTP.Load() + s.announcesUDP.Load(),
		scrapes:   s.scrapesHTTP.Load() + s.scrapesUDP.Load(),
	}
	s.next = (s.next + 1) % len(s.samples)
	s.filled = min(s.filled+1, len(s.samples))
}

// rates returns announces and scrapes per second over the last rateWindow seconds.
func (s *stats) rates() (announces, scrapes float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.filled < 2 {
		return 0, 0
	}
	newest := s.samples[(s.next+len(s.samples)-1)%len(s.samples)]
	oldest := s.samples[(s.next+len(s.samples)-s.filled)%len(s.samples)]
	secs := newest.at.Sub(oldest.at).Seconds()
	if secs <= 0 {
		return 0, 0
	}
	return float64(newest.announces-oldest.announces) / secs, float64(newest.scrapes-oldest.scrapes) / secs
}

// run samples the counters every second until ctx is done.
func (s *stats) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	s.take(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.take(now)
		}
	}
}

// Stats is the JSON document served at /stats.
type Stats struct {
	Torrents           int     `json:"torrents"`
	Seeders            int     `json:"seeders"`
	Leechers           int     `json:"leechers"`
	AnnouncesPerSecond float64 `json:"announces_per_second"`
	ScrapesPerSecond   float64 `json:"scrapes_per_second"`
	AnnouncesHTTP      uint64  `json:"announces_http"`
	AnnouncesUDP       uint64  `json:"announces_udp"`
	ScrapesHTTP        uint64  `json:"scrapes_http"`
	ScrapesUDP         uint64  `json:"scrapes_udp"`
	UDPConnects        uint64  `json:"udp_connects"`
	ClientErrors       uint64  `json:"client_errors"`
	InternalErrors     uint64  `json:"internal_errors"`
}

func (s *stats) snapshot(ctx context.Context, st store.Store) (Stats, error) {
	tot, err := st.Totals(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: store totals: %w", err)
	}
	ann, scr := s.rates()
	return Stats{
		Torrents: tot.Torrents, Seeders: tot.Seeders, Leechers: tot.Leechers,
		AnnouncesPerSecond: ann, ScrapesPerSecond: scr,
		AnnouncesHTTP: s.announcesHTTP.Load(), AnnouncesUDP: s.announcesUDP.Load(),
		ScrapesHTTP: s.scrapesHTTP.Load(), ScrapesUDP: s.scrapesUDP.Load(),
		UDPConnects:  s.udpConnects.Load(),
		ClientErrors: s.clientErrors.Load(), InternalErrors: s.internalErrors.Load(),
	}, nil
}

func writeStatsJSON(w io.Writer, st Stats) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}
