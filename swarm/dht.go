package swarm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/time/rate"
)

// publicRouters are the bootstrap nodes used when --dht-bootstrap is not given: the
// library's list (router.utorrent.com, router.bittorrent.com, …), resolved by DNS. The
// swarm tests replace it so that a test that forgets --dht-bootstrap fails instead of
// sending packets off the machine.
var publicRouters = func(network string) ([]dht.Addr, error) { return dht.GlobalBootstrapAddrs(network) }

// dhtState is one engine's DHT setup, shared by its IPv4 and IPv6 servers.
type dhtState struct {
	stateDir  string
	bootstrap []string
	limits    DiscoveryLimits
	log       *slog.Logger

	store *peerStore
	items *itemStore
	send  *rate.Limiter
	perIP *ipLimiter

	mu      sync.Mutex
	saved   map[string][]krpc.NodeInfo // per family, read from the state dir at start
	ids     map[string]krpc.ID         // per family
	filters map[string]*dhtConn        // per family
	servers []*dht.Server              // set once the client has started

	dropped dhtDrops
}

// dhtDrops counts datagrams the guard refused, by reason.
type dhtDrops struct {
	TooLarge  atomic.Int64
	RateLimit atomic.Int64
	Malformed atomic.Int64
	Panicked  atomic.Int64 // the library's decoder would have crashed the process on these
}

func newDHTState(stateDir string, bootstrap []string, l DiscoveryLimits, log *slog.Logger) *dhtState {
	return &dhtState{
		stateDir:  stateDir,
		bootstrap: append([]string(nil), bootstrap...),
		limits:    l,
		log:       log,
		store:     newPeerStore(l),
		items:     newItemStore(l.DHTMaxItems),
		send:      newLimiter(l.DHTSendRate, l.DHTSendBurst),
		perIP:     newIPLimiter(l.DHTPacketsPerIP, l.DHTPacketBurstPerIP, l.DHTMaxTrackedIPs),
		saved:     make(map[string][]krpc.NodeInfo),
		ids:       make(map[string]krpc.ID),
		filters:   make(map[string]*dhtConn),
	}
}

// family is "udp4" or "udp6" for a socket's local address; the library names both "udp".
func family(a net.Addr) string {
	if ua, ok := a.(*net.UDPAddr); ok && ua.IP.To4() == nil && ua.IP != nil {
		return "udp6"
	}
	return "udp4"
}

// configureServer is the client's ConfigureAnacrolixDhtServer hook, run once per DHT
// socket inside torrent.NewClient.
func (d *dhtState) configureServer(c *dht.ServerConfig) {
	fam := family(c.Conn.LocalAddr())
	c.PeerStore = d.store
	c.Store = d.items
	// The client leaves Exp zero, which expires a BEP 44 item the moment it is read.
	c.Exp = d.limits.DHTItemTTL
	c.SendLimiter = d.send
	if c.NodeId == (krpc.ID{}) {
		c.NodeId = d.nodeID(fam)
	}
	d.loadNodes(fam)
	c.StartingNodes = func() ([]dht.Addr, error) { return d.startingNodes(fam) }
	conn := &dhtConn{PacketConn: c.Conn, d: d}
	d.mu.Lock()
	d.filters[fam] = conn
	d.mu.Unlock()
	c.Conn = conn
}

func (d *dhtState) idPath(fam string) string { return filepath.Join(d.stateDir, "dht-"+fam+".id") }
func (d *dhtState) nodesPath(fam string) string {
	return filepath.Join(d.stateDir, "dht-"+fam+".nodes")
}

// nodeID returns the node ID kept in the state dir for this family, making and saving one
// on first use. A stable ID keeps our place in other nodes' routing tables and the peers
// they stored near it across restarts.
func (d *dhtState) nodeID(fam string) krpc.ID {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[fam]; ok {
		return id
	}
	id, err := readNodeID(d.idPath(fam))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("DHT node ID unreadable, making a new one", "path", d.idPath(fam), "err", err)
		}
		id = krpc.RandomNodeID()
		if err := writeFileAtomic(d.idPath(fam), []byte(hex.EncodeToString(id[:])+"\n")); err != nil {
			d.log.Warn("save DHT node ID", "err", err)
		}
	}
	d.ids[fam] = id
	return id
}

func readNodeID(path string) (krpc.ID, error) {
	b, err := readFileMax(path, 128)
	if err != nil {
		return krpc.ID{}, err
	}
	return parseNodeID(b)
}

// parseNodeID reads the 40 hex digits of an ID file.
func parseNodeID(b []byte) (krpc.ID, error) {
	var id krpc.ID
	s := strings.TrimSpace(string(b))
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("node ID file: want %d hex digits, have %d bytes", 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("node ID file: %w", err)
	}
	if id == (krpc.ID{}) {
		return id, errors.New("node ID file: zero ID")
	}
	return id, nil
}

// loadNodes reads the routing table saved by the last run, for startingNodes.
func (d *dhtState) loadNodes(fam string) {
	ns, err := readNodesFile(d.nodesPath(fam), d.limits.DHTMaxSavedNodes, fam)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		d.log.Warn("saved DHT nodes unreadable", "path", d.nodesPath(fam), "err", err)
	}
	d.mu.Lock()
	d.saved[fam] = ns
	d.mu.Unlock()
}

// startingNodes is what a server contacts when its routing table is empty: the nodes saved
// by the last run first, then the --dht-bootstrap nodes or, without any, the public routers.
func (d *dhtState) startingNodes(network string) ([]dht.Addr, error) {
	var out []dht.Addr
	d.mu.Lock()
	for fam, ns := range d.saved {
		if network != "udp" && fam != network {
			continue
		}
		for _, n := range ns {
			out = append(out, dht.NewAddr(n.Addr.UDP()))
		}
	}
	d.mu.Unlock()
	var boot []dht.Addr
	var err error
	if len(d.bootstrap) > 0 {
		boot, err = resolveNodes(network, d.bootstrap)
	} else {
		boot, err = publicRouters(network)
		boot = sameFamily(network, boot)
	}
	out = append(out, boot...)
	if len(out) == 0 {
		if err == nil {
			err = errors.New("no DHT bootstrap nodes")
		}
		return nil, err
	}
	return out, nil
}

func sameFamily(network string, as []dht.Addr) []dht.Addr {
	if network == "udp" {
		return as
	}
	out := as[:0]
	for _, a := range as {
		if (a.IP().To4() != nil) == (network == "udp4") {
			out = append(out, a)
		}
	}
	return out
}

// dhtServers returns the library's DHT servers of a started client.
func dhtServers(cl *torrent.Client) []*dht.Server {
	var out []*dht.Server
	for _, s := range cl.DhtServers() {
		if w, ok := s.(torrent.AnacrolixDhtServerWrapper); ok {
			out = append(out, w.Server)
		}
	}
	return out
}

// saveLoop writes the routing table every ten minutes, so a crash loses little.
func (d *dhtState) saveLoop(stop <-chan struct{}) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := d.save(); err != nil {
				d.log.Warn("save DHT routing table", "err", err)
			}
		}
	}
}

// save writes each server's good nodes, and a BEP 42 node ID for the next start when the
// current one does not match the address other nodes see us at.
func (d *dhtState) save() error {
	d.mu.Lock()
	servers := d.servers
	d.mu.Unlock()
	var errs []error
	for _, s := range servers {
		fam := family(s.Addr())
		ns := s.Nodes()
		if len(ns) == 0 {
			continue // keep the old list rather than forget every node after a bad run
		}
		if len(ns) > d.limits.DHTMaxSavedNodes {
			ns = ns[:d.limits.DHTMaxSavedNodes]
		}
		b, err := krpc.CompactIPv6NodeInfo(ns).MarshalBinary()
		if err == nil {
			err = writeFileAtomic(d.nodesPath(fam), b)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("DHT nodes: %w", err))
		}
		d.mu.Lock()
		conn := d.filters[fam]
		d.mu.Unlock()
		if conn == nil {
			continue
		}
		if ip, ok := conn.externalIP(); ok {
			if id, changed := secureNodeID(krpc.ID(s.ID()), ip); changed {
				if err := writeFileAtomic(d.idPath(fam), []byte(hex.EncodeToString(id[:])+"\n")); err != nil {
					errs = append(errs, fmt.Errorf("DHT node ID: %w", err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// secureNodeID returns an ID that matches ip under BEP 42, changing as few bits of cur as
// BEP 42 allows, and whether it had to change. Nodes that enforce BEP 42 (this library, by
// default) keep only IDs that match the sender's address; the new ID is used from the next
// start, since a running server cannot change its ID.
func secureNodeID(cur krpc.ID, ip netip.Addr) (krpc.ID, bool) {
	if dht.NodeIdSecure(cur, ip.AsSlice()) {
		return cur, false
	}
	id := cur
	dht.SecureNodeId(&id, ip.AsSlice())
	return id, true
}

// nodeInfoSize is one entry of the nodes file: ID, IPv6 (or v4-mapped) address, port.
const nodeInfoSize = 38

// readNodesFile reads at most max nodes of one family from a file written by save.
func readNodesFile(path string, max int, fam string) ([]krpc.NodeInfo, error) {
	b, err := readFileMax(path, int64(max*nodeInfoSize))
	if err != nil {
		return nil, err
	}
	return parseNodes(b, max, fam), nil
}

// parseNodes decodes compact node infos, skipping unusable entries and a torn tail.
func parseNodes(b []byte, max int, fam string) []krpc.NodeInfo {
	var out []krpc.NodeInfo
	for len(b) >= nodeInfoSize && len(out) < max {
		var id krpc.ID
		copy(id[:], b[:20])
		ip, _ := netip.AddrFromSlice(b[20:36])
		port := int(b[36])<<8 | int(b[37])
		b = b[nodeInfoSize:]
		ip = ip.Unmap()
		if id == (krpc.ID{}) || port == 0 || ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		if (ip.Is4()) != (fam == "udp4") {
			continue
		}
		out = append(out, krpc.NodeInfo{ID: id, Addr: krpc.NodeAddr{IP: ip.AsSlice(), Port: port}})
	}
	return out
}

// readFileMax reads a file of our own state, refusing to read more than max bytes of it.
func readFileMax(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// writeFileAtomic replaces path with data, so a crash mid-write leaves the old file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// dhtConn stands between the DHT socket and the library's server. It drops datagrams that
// are too large, come too fast from one address, or do not decode as KRPC. The last matters
// more than it looks: the library's decoder panics on a compact address shorter than two
// bytes (an "ip" or "values" entry), and it decodes in the server's read goroutine, where a
// panic ends the process. We decode first, with recover, and pass on only what decoded.
type dhtConn struct {
	net.PacketConn
	d *dhtState

	mu    sync.Mutex
	votes map[netip.Addr]int // our address as seen by nodes that replied (KRPC "ip", BEP 42)
}

// maxIPVotes bounds the external-address tally; a real node sees one or two.
const maxIPVotes = 16

func (c *dhtConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || c.accept(b[:n], n == len(b), addr) {
			return n, addr, err
		}
	}
}

func (c *dhtConn) accept(b []byte, truncated bool, addr net.Addr) bool {
	d := c.d
	if truncated || len(b) > d.limits.DHTMaxPacketBytes {
		d.dropped.TooLarge.Add(1)
		return false
	}
	if ua, ok := addr.(*net.UDPAddr); ok {
		ip, _ := netip.AddrFromSlice(ua.IP)
		if !d.perIP.allow(ip.Unmap(), time.Now()) {
			d.dropped.RateLimit.Add(1)
			return false
		}
	}
	m, err := decodeKRPC(b)
	if err != nil {
		if errors.Is(err, errKRPCPanic) {
			d.dropped.Panicked.Add(1)
		} else {
			d.dropped.Malformed.Add(1)
		}
		return false
	}
	if dhtQueryHook != nil && m.Y == krpc.YQuery && m.A != nil {
		dhtQueryHook(m.Q, metainfo.Hash(m.A.InfoHash))
	}
	if m.Y == krpc.YResponse && m.IP.Port != 0 {
		c.vote(m.IP.IP)
	}
	return true
}

// dhtQueryHook sees every query that passed the guard (tests).
var dhtQueryHook func(q string, ih metainfo.Hash)

var errKRPCPanic = errors.New("krpc decoder panicked")

// decodeKRPC decodes a datagram the way the library's server will, and checks the little
// the server takes for granted.
func decodeKRPC(b []byte) (m krpc.Msg, err error) {
	if len(b) < 2 || b[0] != 'd' || b[len(b)-1] != 'e' {
		return m, errors.New("not a bencoded dictionary")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errKRPCPanic, r)
		}
	}()
	err = bencode.Unmarshal(b, &m)
	var trailing bencode.ErrUnusedTrailingBytes
	if errors.As(err, &trailing) {
		return m, err // the library accepts these; we do not need them
	}
	if err != nil {
		return m, err
	}
	switch m.Y {
	case krpc.YQuery:
		if m.A == nil {
			return m, errors.New("query without arguments")
		}
	case krpc.YResponse:
		if m.R == nil {
			return m, errors.New("response without return values")
		}
	case krpc.YError:
	default:
		return m, fmt.Errorf("message type %q", m.Y)
	}
	return m, nil
}

func (c *dhtConn) vote(ip net.IP) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return
	}
	a = a.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.votes == nil {
		c.votes = make(map[netip.Addr]int)
	}
	if _, ok := c.votes[a]; ok || len(c.votes) < maxIPVotes {
		c.votes[a]++
	}
}

// externalIP is the public address most repliers saw us at, once at least three agree.
// Local addresses do not count: BEP 42 exempts them.
func (c *dhtConn) externalIP() (netip.Addr, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best netip.Addr
	n := 0
	for a, v := range c.votes {
		if v > n {
			best, n = a, v
		}
	}
	if n < 3 || !best.IsGlobalUnicast() || best.IsPrivate() {
		return netip.Addr{}, false
	}
	return best, true
}

// itemStore keeps BEP 44 items for other nodes, at most max of them; when full, the oldest
// goes. The library's default store grows with every put.
type itemStore struct {
	max int

	mu    sync.Mutex
	items map[bep44.Target]*bep44.Item
	order []bep44.Target // insertion order, for eviction
}

var _ bep44.Store = (*itemStore)(nil)

func newItemStore(max int) *itemStore {
	return &itemStore{max: max, items: make(map[bep44.Target]*bep44.Item)}
}

func (s *itemStore) Put(i *bep44.Item) error {
	t := i.Target()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[t]; !ok {
		for len(s.items) >= s.max && len(s.order) > 0 {
			delete(s.items, s.order[0])
			s.order = s.order[1:]
		}
		s.order = append(s.order, t)
	}
	s.items[t] = i
	// Deleted targets linger in order; compact once they outnumber the live ones.
	if len(s.order) > 2*s.max {
		live := s.order[:0]
		for _, o := range s.order {
			if _, ok := s.items[o]; ok {
				live = append(live, o)
			}
		}
		s.order = live
	}
	return nil
}

func (s *itemStore) Get(t bep44.Target) (*bep44.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.items[t]; ok {
		return i, nil
	}
	return nil, bep44.ErrItemNotFound
}

func (s *itemStore) Del(t bep44.Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.items, t)
	return nil
}

func (s *itemStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

// lookupLoop runs extra DHT lookups for torrents that are downloading with no peer at all,
// backing off from DHTRetryMin to DHTRetryMax. The library looks up once when a torrent is
// added and then only every 15 minutes, so a magnet added before anyone announced it, or
// while our routing table was still empty, would sit idle that long.
func (d *discovery) lookupLoop() {
	type retry struct {
		next    time.Time
		wait    time.Duration
		running atomic.Bool
	}
	state := map[metainfo.Hash]*retry{}
	tick := time.NewTicker(d.limits.DHTRetryMin / 4)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		live := map[metainfo.Hash]bool{}
		for _, m := range d.e.discoveryTorrents() {
			live[m.ih] = true
			if !m.wantsDHTLookup() {
				delete(state, m.ih)
				continue
			}
			r := state[m.ih]
			if r == nil {
				// The library's own lookup at add time goes first.
				r = &retry{next: now.Add(d.limits.DHTRetryMin), wait: d.limits.DHTRetryMin}
				state[m.ih] = r
				continue
			}
			if r.running.Load() || now.Before(r.next) {
				continue
			}
			r.wait = min(2*r.wait, d.limits.DHTRetryMax)
			r.next = now.Add(r.wait)
			r.running.Store(true)
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer r.running.Store(false)
				d.lookup(m.t, r.wait)
			}()
		}
		for ih := range state {
			if !live[ih] {
				delete(state, ih)
			}
		}
	}
}

// lookup announces a torrent on every DHT server (get_peers, then announce_peer to the
// closest nodes), handing the peers found to the torrent, for at most timeout.
func (d *discovery) lookup(t *torrent.Torrent, timeout time.Duration) {
	d.dht.mu.Lock()
	servers := d.dht.servers
	d.dht.mu.Unlock()
	for _, s := range servers {
		done, stop, err := t.AnnounceToDht(torrent.AnacrolixDhtServerWrapper{Server: s})
		if err != nil {
			continue
		}
		select {
		case <-done:
		case <-time.After(timeout):
		case <-d.stop:
		}
		stop()
	}
}

// wantsDHTLookup: public (as far as we know), running, incomplete and without a peer.
func (m *managed) wantsDHTLookup() bool {
	m.mu.Lock()
	skip := m.private || m.paused || m.err != nil || !m.completedAt.IsZero()
	m.mu.Unlock()
	if skip {
		return false
	}
	if info := m.t.Info(); info != nil && info.Private != nil && *info.Private {
		return false
	}
	return len(m.t.PeerConns()) == 0
}
