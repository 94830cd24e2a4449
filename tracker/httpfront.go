package tracker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"shoal/tracker/store"
)

// httpFront serves BEP 3 / 23 / 7 / 48 announces and scrapes over HTTP/1.1 with keep-alive and
// pipelining, one goroutine per connection, one fixed buffer per connection.
type httpFront struct {
	cfg     *Config
	logic   Logic
	stats   *stats
	log     *slog.Logger
	ln      net.Listener
	buffers sync.Pool // *connBuffers

	open     atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	stopping bool
	stopped  atomic.Bool // stopping, readable without the lock on every request
	wg       sync.WaitGroup
}

// connBuffers are a connection's reusable memory, pooled because many clients close the
// connection after each announce.
type connBuffers struct {
	in     []byte
	out    []byte
	body   []byte
	query  announceQuery
	resp   AnnounceResponse
	scrape ScrapeRequest
	scResp ScrapeResponse
	order  []int
	// scan holds the hashes of a scrape whose request line was streamed (streamed set): the
	// head handed to handle then has the path without the query.
	scan     scrapeScanner
	streamed bool
}

func newHTTPFront(cfg *Config, l Logic, st *stats, ln net.Listener) *httpFront {
	f := &httpFront{cfg: cfg, logic: l, stats: st, log: cfg.logger(), ln: ln, conns: map[net.Conn]struct{}{}}
	f.buffers.New = func() any {
		return &connBuffers{
			in:   make([]byte, cfg.HTTPMaxRequestBytes),
			out:  make([]byte, 0, 2048),
			body: make([]byte, 0, 2048),
		}
	}
	return f
}

// serve accepts connections until stop is called.
func (f *httpFront) serve(ctx context.Context) error {
	var backoff time.Duration
	for {
		c, err := f.ln.Accept()
		if err != nil {
			f.mu.Lock()
			stopping := f.stopping
			f.mu.Unlock()
			if stopping || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like: wait a little rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.log.Error("tracker: http accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if f.open.Add(1) > int64(f.cfg.HTTPMaxConns) {
			f.open.Add(-1)
			f.stats.httpConnsRefused.Add(1)
			c.Close()
			continue
		}
		if !f.track(c) {
			f.open.Add(-1)
			c.Close()
			return nil
		}
		f.wg.Add(1)
		go f.serveConn(ctx, c)
	}
}

func (f *httpFront) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopping {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *httpFront) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// stop closes the listener, makes every connection's pending read fail at once (a request
// being answered still gets its reply), and waits for the connections to end or ctx.
func (f *httpFront) stop(ctx context.Context) {
	f.mu.Lock()
	f.stopping = true
	f.stopped.Store(true)
	f.ln.Close()
	now := time.Now()
	for c := range f.conns {
		c.SetReadDeadline(now)
	}
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		f.mu.Lock()
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		<-done
	}
}

// deadline avoids re-arming a connection's timer on every request: it moves a deadline only
// when it would move by more than a second, so timeouts are exact to within a second.
type deadline struct {
	at  time.Time
	set func(time.Time) error
}

func (d *deadline) extend(now time.Time, timeout time.Duration) error {
	want := now.Add(timeout)
	if want.Sub(d.at) < time.Second && d.at.Sub(want) < time.Second {
		return nil
	}
	d.at = want
	return d.set(want)
}

func (d *deadline) exactly(t time.Time) error {
	d.at = t
	return d.set(t)
}

func (f *httpFront) serveConn(ctx context.Context, c net.Conn) {
	defer f.wg.Done()
	defer f.open.Add(-1)
	defer f.untrack(c)
	defer c.Close()
	remote := remoteAddrPort(c)
	fromProxy := inPrefixes(f.cfg.TrustedProxies, remote.Addr())
	b := f.buffers.Get().(*connBuffers)
	defer f.buffers.Put(b)
	b.out = b.out[:0]
	b.streamed = false
	readDL := deadline{set: c.SetReadDeadline}
	writeDL := deadline{set: c.SetWriteDeadline}
	in := b.in
	start, end := 0, 0
	var requestStarted bool // some bytes of the next request are buffered
	for {
		start += skipLeadingNewlines(in[start:end])
		n := findHeadEnd(in[start:end])
		if n < 0 {
			if len(b.out) > 0 { // answer what was pipelined before waiting for more
				if !f.write(c, &writeDL, b.out) {
					return
				}
				b.out = b.out[:0]
			}
			if start == end {
				start, end = 0, 0
				requestStarted = false
			} else if end == len(in) && start > 0 {
				end = copy(in, in[start:end])
				start = 0
			}
			if end == len(in) { // start is 0: the request fills the buffer
				if !requestStarted {
					requestStarted = true
					if readDL.exactly(time.Now().Add(f.cfg.HTTPReadTimeout)) != nil {
						return
					}
				}
				var outcome streamOutcome
				var msg string
				start, end, outcome, msg = f.streamScrape(c, b, in)
				if outcome == streamDone {
					continue
				}
				if outcome != streamConnGone {
					f.stats.clientErrors.Add(1)
					b.out = f.appendReply(b.out, 200, true, false, appendFailure(b.body[:0], msg))
					f.write(c, &writeDL, b.out)
				}
				return
			}
			now := time.Now()
			var err error
			if start == end {
				err = readDL.extend(now, f.cfg.HTTPIdleTimeout)
			} else if !requestStarted {
				// The slowloris defence: once a request has begun it must end in time.
				requestStarted = true
				err = readDL.exactly(now.Add(f.cfg.HTTPReadTimeout))
			}
			// Checked after arming the deadline: stop() sets the flag before it expires every
			// connection's deadline, so either this sees the flag or stop's expiry comes later.
			if err != nil || f.stopped.Load() {
				return
			}
			nr, err := c.Read(in[end:])
			end += nr
			if err != nil && nr == 0 {
				return
			}
			continue
		}
		head := in[start : start+n]
		start += n
		if requestStarted {
			requestStarted = false
			readDL.at = time.Time{} // the exact deadline must not linger into idle waits
		}
		keepAlive := f.handle(ctx, b, head, remote, fromProxy)
		if !keepAlive || f.stopped.Load() {
			f.write(c, &writeDL, b.out)
			return
		}
		if len(b.out) > 32<<10 { // a client pipelining a lot: don't buffer without bound
			if !f.write(c, &writeDL, b.out) {
				return
			}
			b.out = b.out[:0]
		}
	}
}

func (f *httpFront) write(c net.Conn, dl *deadline, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	if err := dl.extend(time.Now(), f.cfg.HTTPWriteTimeout); err != nil {
		return false
	}
	_, err := c.Write(p)
	return err == nil
}

// handle answers one request, appending the reply to b.out. It reports whether the connection
// may stay open.
func (f *httpFront) handle(ctx context.Context, b *connBuffers, head []byte, remote netip.AddrPort, fromProxy bool) bool {
	streamed := b.streamed // this head is a streamed scrape's, its hashes in b.scan
	b.streamed = false
	var h requestHead
	if err := parseHead(head, &h); err != nil {
		f.stats.clientErrors.Add(1)
		b.out = f.appendReply(b.out, 200, true, false, appendFailure(b.body[:0], err.Error()))
		return false
	}
	fail := func(status int, msg string) bool {
		f.stats.clientErrors.Add(1)
		b.out = f.appendReply(b.out, status, true, h.http10, appendFailure(b.body[:0], msg))
		return false
	}
	if string(h.method) != "GET" {
		return fail(405, "only GET is served, not "+quoted(h.method))
	}
	if h.hasBody {
		return fail(200, "request bodies are not accepted")
	}
	r, passkeyBytes := routePath(h.path)
	if r == routeNotFound {
		b.out = f.appendReply(b.out, 404, h.close, h.http10, appendFailure(b.body[:0], "not found: use /announce or /scrape"))
		return !h.close
	}
	maxQuery := f.cfg.HTTPMaxQueryBytes
	if r == routeScrape { // a scrape names its torrents in the query: it has a cap of its own
		maxQuery = f.cfg.HTTPMaxScrapeLineBytes
	}
	if len(h.query) > maxQuery {
		return fail(200, "query too long: at most "+strconv.Itoa(maxQuery)+" bytes")
	}
	var passkey string
	if len(passkeyBytes) > 0 {
		passkey = string(passkeyBytes)
	}
	var body []byte
	var err error
	if r == routeAnnounce {
		f.stats.announcesHTTP.Add(1)
		body, err = f.announce(ctx, b, &h, remote, fromProxy, passkey)
	} else {
		f.stats.scrapesHTTP.Add(1)
		body, err = f.scrape(ctx, b, &h, passkey, streamed)
	}
	if err != nil {
		msg, isClient := clientText(err)
		if isClient {
			f.stats.clientErrors.Add(1)
			if f.cfg.LogClientErrors {
				f.log.Info("tracker: request rejected", "proto", "http", "remote", remote, "reason", msg)
			} else {
				f.log.Debug("tracker: request rejected", "proto", "http", "remote", remote, "reason", msg)
			}
		} else {
			f.stats.internalErrors.Add(1)
			f.log.Error("tracker: request failed", "proto", "http", "remote", remote, "err", err)
		}
		body = appendFailure(b.body[:0], msg)
	}
	b.body = body[:0]
	b.out = f.appendReply(b.out, 200, h.close, h.http10, body)
	return !h.close
}

func (f *httpFront) announce(ctx context.Context, b *connBuffers, h *requestHead, remote netip.AddrPort, fromProxy bool, passkey string) ([]byte, error) {
	q := &b.query
	if err := parseAnnounceQuery(h.query, q); err != nil {
		return nil, err
	}
	ip := remote.Addr()
	if fromProxy && h.forwardedFor != nil {
		fwd, err := forwardedClient(h.forwardedFor, f.cfg.TrustedProxies)
		if err != nil {
			return nil, err
		}
		ip = fwd
	}
	if f.cfg.TrustIPParam && len(q.ip) > 0 {
		given, err := parseIPParam(q.ip)
		if err != nil {
			return nil, err
		}
		ip = given
	}
	q.req.Addr = netip.AddrPortFrom(ip, q.port)
	q.req.Passkey = passkey
	if err := f.logic.Announce(ctx, &q.req, &b.resp); err != nil {
		return nil, err
	}
	return appendAnnounceReply(b.body[:0], &b.resp, q.req.Addr.Addr().Is4(), q.compact), nil
}

func (f *httpFront) scrape(ctx context.Context, b *connBuffers, h *requestHead, passkey string, streamed bool) ([]byte, error) {
	var hashes []store.InfoHash
	var err error
	if streamed {
		hashes, err = b.scan.finish()
	} else {
		hashes, err = parseScrapeQuery(h.query, b.scrape.InfoHashes[:0], f.cfg.MaxScrapeHashes)
	}
	if err != nil {
		return nil, err
	}
	b.scrape = ScrapeRequest{InfoHashes: hashes, Passkey: passkey}
	if err := f.logic.Scrape(ctx, &b.scrape, &b.scResp); err != nil {
		return nil, err
	}
	var body []byte
	body, b.order = appendScrapeReply(b.body[:0], &b.scResp, b.order)
	return body, nil
}

var statusLines = map[int]string{
	200: "HTTP/1.1 200 OK\r\n",
	404: "HTTP/1.1 404 Not Found\r\n",
	405: "HTTP/1.1 405 Method Not Allowed\r\n",
}

// appendReply writes an HTTP response with a bencoded body.
func (f *httpFront) appendReply(out []byte, status int, closeConn, http10 bool, body []byte) []byte {
	out = append(out, statusLines[status]...)
	out = append(out, "Content-Type: text/plain\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	switch {
	case closeConn:
		out = append(out, "\r\nConnection: close"...)
	case http10:
		out = append(out, "\r\nConnection: keep-alive"...)
	}
	out = append(out, "\r\n\r\n"...)
	return append(out, body...)
}

func remoteAddrPort(c net.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap
}

func inPrefixes(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedClient returns the client address from an X-Forwarded-For list: the rightmost
// entry that is not itself a trusted proxy (entries further left are whatever the client
// chose to send).
func forwardedClient(list []byte, trusted []netip.Prefix) (netip.Addr, error) {
	var last netip.Addr
	for len(list) > 0 {
		var entry []byte
		if i := bytes.LastIndexByte(list, ','); i >= 0 {
			entry, list = list[i+1:], list[:i]
		} else {
			entry, list = list, nil
		}
		a, err := netip.ParseAddr(string(bytes.TrimSpace(entry)))
		if err != nil {
			return netip.Addr{}, clientErrorf("X-Forwarded-For entry %q is not an IP address", quoted(entry))
		}
		a = a.Unmap()
		last = a
		if !inPrefixes(trusted, a) {
			return a, nil
		}
	}
	if !last.IsValid() {
		return netip.Addr{}, ClientError("X-Forwarded-For is empty")
	}
	return last, nil
}

// parseIPParam reads the ip= parameter: an IP address, possibly %-escaped (IPv6 colons).
// Host names are refused: the tracker does not resolve names for clients.
func parseIPParam(v []byte) (netip.Addr, error) {
	var buf [64]byte
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' && i+2 < len(v) {
			hi, ok1 := unhex(v[i+1])
			lo, ok2 := unhex(v[i+2])
			if ok1 && ok2 {
				c = hi<<4 | lo
				i += 2
			}
		}
		if n == len(buf) {
			return netip.Addr{}, ClientError("ip parameter is too long")
		}
		buf[n] = c
		n++
	}
	a, err := netip.ParseAddr(string(buf[:n]))
	if err != nil {
		return netip.Addr{}, clientErrorf("ip parameter %q is not an IP address", quoted(v))
	}
	return a.Unmap(), nil
}
