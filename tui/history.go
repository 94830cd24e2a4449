package tui

import (
	"time"

	"shoal/swarm"
)

// historyLen is how many one-second samples of rates the UI keeps per
// torrent and in total: the rates tab graphs the last graphWindow of them.
const (
	historyLen  = 600
	graphWindow = 300 * time.Second
)

// series is a ring of one-second rate samples.
type series struct {
	down, up [historyLen]float32
	n, head  int // samples held; index of the next write
}

func (s *series) push(down, up float64) {
	s.down[s.head], s.up[s.head] = float32(down), float32(up)
	s.head = (s.head + 1) % historyLen
	if s.n < historyLen {
		s.n++
	}
}

// last returns the newest k samples of one direction, oldest first; fewer
// if fewer are held.
func (s *series) last(k int, up bool) []float32 {
	k = min(k, s.n)
	out := make([]float32, k)
	src := &s.down
	if up {
		src = &s.up
	}
	for i := range k {
		out[i] = src[(s.head-k+i+historyLen)%historyLen]
	}
	return out
}

// history is the UI's own memory of rates: snapshots carry only the
// current rate, and the graphs need the last minutes.
type history struct {
	total   series
	per     map[string]*series
	lastAt  time.Time
	samples int
}

func newHistory() *history { return &history{per: map[string]*series{}} }

// observe records a snapshot. Snapshots come about once a second, and
// sooner after an action; a sample is kept per second of snapshot time so
// extra snapshots do not squeeze the graph.
func (h *history) observe(s *swarm.Snapshot) {
	if s == nil {
		return
	}
	if !h.lastAt.IsZero() && s.Time.Sub(h.lastAt) < 900*time.Millisecond {
		return
	}
	h.lastAt = s.Time
	h.samples++
	h.total.push(s.DownRate, s.UpRate)
	seen := make(map[string]bool, len(s.Torrents))
	for i := range s.Torrents {
		t := &s.Torrents[i]
		seen[t.InfoHash] = true
		ser := h.per[t.InfoHash]
		if ser == nil {
			ser = &series{}
			h.per[t.InfoHash] = ser
		}
		ser.push(t.DownRate, t.UpRate)
	}
	for ih := range h.per {
		if !seen[ih] {
			delete(h.per, ih) // removed torrents take their graphs with them
		}
	}
}
