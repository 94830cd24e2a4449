package utp

// Congestion control: round-trip estimation, loss detection that tolerates reordering, and
// LEDBAT. All of it runs with the connection's lock held.

import "time"

func (c *Conn) rttSample(d time.Duration) {
	if d <= 0 {
		d = time.Microsecond
	}
	if !c.hasRTT {
		c.hasRTT = true
		c.srtt, c.rttvar, c.minRTT = d, d/2, d
	} else {
		diff := c.srtt - d
		if diff < 0 {
			diff = -diff
		}
		c.rttvar = (3*c.rttvar + diff) / 4
		c.srtt = (7*c.srtt + d) / 8
		c.minRTT = min(c.minRTT, d)
	}
	c.rto = min(max(c.srtt+4*c.rttvar, c.s.cfg.MinRTO), maxRTO)
}

// reorderWindow is how much later a delivered packet must have been sent before an
// unacknowledged earlier one counts as lost.
func (c *Conn) reorderWindow() time.Duration {
	if !c.hasRTT {
		return time.Millisecond
	}
	w := c.minRTT * time.Duration(c.reoSteps) / 4
	return max(w, 500*time.Microsecond)
}

func (c *Conn) onSpurious() {
	if c.reoSteps < 4 {
		c.reoSteps++
	}
	if c.canUndo && c.prevCwnd > c.cwnd {
		c.cwnd = c.prevCwnd
		c.slowStart = false
		c.canUndo = false
	}
}

// detectLoss declares lost the packets sent more than a reordering window before the
// latest-sent packet the peer is known to have (RACK). A window of one plain dupack
// threshold would misread the reordering of a jittery path as loss.
func (c *Conn) detectLoss(now time.Time) {
	if c.rackSent.IsZero() && c.dupAcks < 3 {
		return
	}
	limit := c.rackSent.Add(-c.reorderWindow())
	for seq := c.ackedSeq + 1; seqLess(seq, c.seqNr); seq++ {
		op := c.out.get(seq)
		if op == nil || op.needResend || !op.inflight {
			continue
		}
		lost := op.sent.Before(limit)
		if !lost && seq == c.ackedSeq+1 && c.dupAcks >= 3 && now.Sub(op.sent) > c.reorderWindow() {
			lost = true
		}
		if !lost {
			if op.transmissions == 1 {
				// Packets further on were first sent later still.
				break
			}
			continue
		}
		op.needResend = true
		c.numNeedResend++
		op.inflight = false
		c.inflight -= op.payloadLen()
		c.onLoss(seq)
	}
	if c.dupAcks >= 3 {
		c.dupAcks = 0
	}
}

// onLoss halves the window once per window of data, as TCP and libtorrent do.
func (c *Conn) onLoss(seq uint16) {
	if !seqLess(c.lossSeq, seq) {
		return
	}
	c.prevCwnd = c.cwnd
	c.canUndo = true
	c.cwnd = max(c.cwnd/2, float64(c.mss))
	c.ssthresh = c.cwnd
	c.slowStart = false
	c.lossSeq = c.seqNr - 1
}

// addDelaySample records the one-way delay the peer measured for our packets.
func (c *Conn) addDelaySample(sample uint32, now time.Time) {
	less := func(a, b uint32) bool { return int32(a-b) < 0 }
	if c.baseN == 0 || now.Sub(c.baseStart) > time.Minute {
		if c.baseN > 0 {
			c.baseIdx = (c.baseIdx + 1) % baseBuckets
		}
		c.baseHist[c.baseIdx] = sample
		c.baseN = min(c.baseN+1, baseBuckets)
		c.baseStart = now
		c.base = sample
		for i := range c.baseN {
			if less(c.baseHist[i], c.base) {
				c.base = c.baseHist[i]
			}
		}
	}
	if less(sample, c.baseHist[c.baseIdx]) {
		c.baseHist[c.baseIdx] = sample
	}
	if less(sample, c.base) {
		c.base = sample
	}
	c.recent[c.recentN%len(c.recent)] = sample - c.base
	c.recentN++
	d := c.recent[0]
	for i := 1; i < min(c.recentN, len(c.recent)); i++ {
		d = min(d, c.recent[i])
	}
	c.ourDelay = time.Duration(d) * time.Microsecond
	c.haveDelay = true
}

// ledbat adjusts the congestion window for acked bytes. Under the target delay it grows as
// libtorrent's LEDBAT does (RFC 6817: at most gainPerRTT bytes per round trip, scaled by how
// far under target we are). Over target it shrinks multiplicatively, in proportion to the
// excess and by at most half per round trip (LEDBAT++, draft-irtf-iccrg-ledbat-plus-plus):
// RFC 6817's linear decrease of a few kilobytes per round trip takes tens of seconds to
// drain a queue a large window built, all that time adding delay for everyone else.
func (c *Conn) ledbat(acked, inflightBefore int) {
	target := c.s.cfg.TargetDelay
	delay := time.Duration(0)
	if c.haveDelay {
		delay = c.ourDelay
		if c.ackRTT > 0 && delay > c.ackRTT {
			// The queueing delay cannot exceed this round trip: a larger value means
			// the base delay drifted or the peer's clock jumped.
			delay = c.ackRTT
		}
	}
	var gain float64
	if delay > target {
		if c.slowStart {
			c.ssthresh = c.cwnd / 2
			c.slowStart = false
		}
		excess := min(float64(delay-target)/float64(target), 0.5)
		gain = -float64(acked) * excess
	} else if saturated := float64(inflightBefore+c.mss) > c.cwnd; saturated {
		// Grow only while the window limits us: an application that sends less
		// would otherwise inflate it without ever testing it.
		windowFactor := float64(min(acked, max(inflightBefore, 1))) / float64(max(inflightBefore, 1))
		delayFactor := float64(target-delay) / float64(target)
		gain = gainPerRTT * windowFactor * delayFactor
		if c.slowStart {
			if exp := float64(acked); c.ssthresh > 0 && c.cwnd+exp > c.ssthresh {
				c.slowStart = false
			} else {
				gain = max(gain, exp)
			}
		}
	}
	c.cwnd = min(max(c.cwnd+gain, float64(c.mss)), float64(c.s.cfg.MaxCwnd))
}
