package tracker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"
)

// udpFront serves BEP 15 over one socket with one reader goroutine per CPU; each reader owns
// its buffers, so the announce path allocates nothing.
type udpFront struct {
	cfg   *Config
	logic Logic
	stats *stats
	log   *slog.Logger
	conn  *net.UDPConn
	key   connIDKey
}

func newUDPFront(cfg *Config, l Logic, st *stats, conn *net.UDPConn) *udpFront {
	return &udpFront{cfg: cfg, logic: l, stats: st, log: cfg.logger(), conn: conn, key: newConnIDKey()}
}

// udpReader is one reader goroutine's memory.
type udpReader struct {
	in       [2048]byte
	out      []byte
	mac      *connIDMAC
	announce udpAnnounce
	resp     AnnounceResponse
	scrape   ScrapeRequest
	scResp   ScrapeResponse
}

// serve reads and answers packets until the socket is closed.
func (u *udpFront) serve(ctx context.Context) error {
	var wg sync.WaitGroup
	for range max(runtime.GOMAXPROCS(0), 1) {
		wg.Go(func() {
			if !u.readBatches(ctx) {
				u.read(ctx)
			}
		})
	}
	wg.Wait()
	return nil
}

func (u *udpFront) stop() { u.conn.Close() }

func (u *udpFront) read(ctx context.Context) {
	r := &udpReader{out: make([]byte, 0, 2048), mac: newConnIDMAC(u.key, u.cfg.UDPConnectionIDLifetime)}
	for {
		n, src, err := u.conn.ReadFromUDPAddrPort(r.in[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.log.Error("tracker: udp read failed", "err", err)
			time.Sleep(10 * time.Millisecond) // transient errors (ICMP-induced on some systems)
			continue
		}
		reply := u.handle(ctx, r, r.in[:n], src, time.Now(), r.out[:0])
		if len(reply) > 0 {
			if _, err := u.conn.WriteToUDPAddrPort(reply, src); err != nil && !errors.Is(err, net.ErrClosed) {
				u.log.Debug("tracker: udp write failed", "remote", src, "err", err)
			}
		}
	}
}

// handle answers one packet; an empty reply means none is sent. No reply is longer than
// UDPMaxReplyFactor × the packet.
func (u *udpFront) handle(ctx context.Context, r *udpReader, p []byte, src netip.AddrPort, now time.Time, out []byte) []byte {
	hdr, ok := parseUDPHeader(p)
	if !ok {
		u.stats.udpDropped.Add(1)
		return nil
	}
	maxReply := u.cfg.UDPMaxReplyFactor * len(p)
	sender := src.Addr().Unmap()
	var err error
	switch hdr.action {
	case actionConnect:
		if hdr.connID != udpProtocolID {
			u.stats.udpDropped.Add(1) // not BEP 15: stay silent rather than answer strangers
			return nil
		}
		u.stats.udpConnects.Add(1)
		return appendUDPConnectReply(out, hdr.txID, r.mac.issue(sender, now))
	case actionAnnounce:
		u.stats.announcesUDP.Add(1)
		if !r.mac.valid(hdr.connID, sender, now) {
			err = ClientError("connection ID expired or invalid: connect again")
			break
		}
		if err = u.announce(ctx, r, p, sender, maxReply); err == nil {
			return appendUDPAnnounceReply(out, hdr.txID, &r.resp)
		}
	case actionScrape:
		u.stats.scrapesUDP.Add(1)
		if !r.mac.valid(hdr.connID, sender, now) {
			err = ClientError("connection ID expired or invalid: connect again")
			break
		}
		hashes, perr := parseUDPScrape(p, r.scrape.InfoHashes[:0], min(udpMaxScrapeHashes, u.cfg.MaxScrapeHashes))
		if err = perr; err != nil {
			break
		}
		r.scrape = ScrapeRequest{InfoHashes: hashes}
		if err = u.logic.Scrape(ctx, &r.scrape, &r.scResp); err == nil {
			return appendUDPScrapeReply(out, hdr.txID, &r.scResp)
		}
	default:
		err = clientErrorf("unknown action %d", hdr.action)
	}
	msg, isClient := clientText(err)
	if isClient {
		u.stats.clientErrors.Add(1)
		if u.cfg.LogClientErrors {
			u.log.Info("tracker: request rejected", "proto", "udp", "remote", src, "reason", msg)
		}
	} else {
		u.stats.internalErrors.Add(1)
		u.log.Error("tracker: request failed", "proto", "udp", "remote", src, "err", err)
	}
	return appendUDPError(out, hdr.txID, msg, maxReply)
}

// announce runs one announce into r.resp, asking for no more peers than fit in maxReply.
func (u *udpFront) announce(ctx context.Context, r *udpReader, p []byte, sender netip.Addr, maxReply int) error {
	a := &r.announce
	if err := parseUDPAnnounce(p, a); err != nil {
		return err
	}
	passkey, err := passkeyFromURLData(a.urlData)
	if err != nil {
		return err
	}
	ip := udpPeerAddr(sender, a.ip, u.cfg.TrustIPParam)
	a.req.Addr = netip.AddrPortFrom(ip, a.port)
	a.req.Passkey = passkey
	fit := (maxReply - udpAnnounceReplyLen) / compactPeerSize(ip.Is4())
	if a.req.NumWant < 0 {
		a.req.NumWant = min(u.cfg.DefaultNumWant, fit)
	} else {
		a.req.NumWant = min(a.req.NumWant, fit)
	}
	return u.logic.Announce(ctx, &a.req, &r.resp)
}
