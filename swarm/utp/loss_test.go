package utp

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestLossEverywhere drops the first SYN, the first answer to it, the first FIN and 5% of
// everything else on an in-memory network, so that every retransmission path runs: SYN
// and FIN timeouts, RTO, SACK-driven resends; and every datagram stays within the MTU.
func TestLossEverywhere(t *testing.T) {
	n := newMemNet()
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(7, 7))
	seen := map[uint8]int{}
	maxSize := 0
	n.drop = func(from, to netip.AddrPort, b []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		maxSize = max(maxSize, len(b))
		p, err := parsePacket(b)
		if err != nil {
			return false
		}
		seen[p.typ]++
		switch {
		case p.typ == stSyn && seen[stSyn] == 1, p.typ == stFin && seen[stFin] == 1:
			return true
		case p.typ == stState && seen[stState] == 1:
			return true // the answer to the (second) SYN
		}
		return r.Float64() < 0.05
	}
	a := n.socket(t, "10.0.0.1:1000", Config{})
	b := n.socket(t, "10.0.0.2:2000", Config{})
	start := time.Now()
	d, acc := connPair(t, a, b)
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("connected in %v although the first SYN was dropped (retry after 1s expected)", el)
	}
	transfer(t, d, acc, pattern(2<<20, 13), 60*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if maxSize > 1400 {
		t.Errorf("sent a %d-byte datagram to an IPv4 peer: over the 1400-byte budget", maxSize)
	}
	st := a.Stats()
	if st.Retransmits == 0 {
		t.Errorf("no retransmissions under 5%% loss: %+v", st)
	}
	t.Logf("sender %+v; types seen %v", st, seen)
}

// TestKeepAlive: an idle connection sends an ACK every Config.KeepAlive, so NAT mappings on
// the path stay open.
func TestKeepAlive(t *testing.T) {
	n := newMemNet()
	var mu sync.Mutex
	states := 0
	n.drop = func(from, to netip.AddrPort, b []byte) bool {
		if p, err := parsePacket(b); err == nil && p.typ == stState {
			mu.Lock()
			states++
			mu.Unlock()
		}
		return false
	}
	cfg := Config{KeepAlive: 100 * time.Millisecond}
	a := n.socket(t, "10.0.0.1:1000", cfg)
	b := n.socket(t, "10.0.0.2:2000", cfg)
	connPair(t, a, b)
	mu.Lock()
	before := states
	mu.Unlock()
	time.Sleep(550 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	// Both ends, about five intervals each.
	if got := states - before; got < 6 || got > 14 {
		t.Fatalf("%d keep-alive ACKs in 550ms with a 100ms interval on two ends", got)
	}
}
