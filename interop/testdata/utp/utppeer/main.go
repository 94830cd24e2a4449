// Command utppeer is the torrent library with swarm/utp as its only transport (TCP off both
// ways), configured as shoal's engine configures it, for uTP interop tests that need a peer
// inside a network namespace (Transmission refuses peers on 127.x). interop/utp_test.go builds
// and runs it.
//
// stdout carries one JSON object per line, like internal/testpeers/lt_peer.py:
//
//	{"event": "listening", "addr": "IP:PORT"}
//	{"event": "ready"}                                   seed: data verified, serving
//	{"event": "done", "secs": S, "peers": [...]}         leech: every piece verified; exit 0
//	{"event": "exit", "uploaded": N, "peers": [...]}     seed: after SIGTERM; exit 0
//	{"event": "error", "error": "..."}                   then exit 1
//
// Each peer is {"addr": ..., "network": ...}: the network of every connection the library
// made or accepted ("udp4" for uTP).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

type peerList []string

func (p *peerList) String() string     { return fmt.Sprint(*p) }
func (p *peerList) Set(s string) error { *p = append(*p, s); return nil }

func emit(kv ...any) {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	fmt.Println(string(b))
}

func fail(err error) {
	emit("event", "error", "error", err.Error())
	os.Exit(1)
}

func main() {
	torrentPath := flag.String("torrent", "", ".torrent file")
	dir := flag.String("dir", "", "data folder (the torrent's name inside)")
	listen := flag.String("listen", "", "IP:PORT")
	seed := flag.Bool("seed", false, "verify the data in -dir and serve it")
	enc := flag.String("encryption", "prefer", "prefer, require or off")
	timeout := flag.Duration("timeout", 60*time.Second, "leech: give up after this long")
	var peers peerList
	flag.Var(&peers, "peer", "IP:PORT to dial (repeatable)")
	flag.Parse()

	ap, err := netip.ParseAddrPort(*listen)
	if err != nil {
		fail(err)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	cfg := torrent.NewDefaultClientConfig()
	cfg.Slogger = slog.New(slog.DiscardHandler)
	cfg.DataDir = *dir
	cfg.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: *dir, PieceCompletion: storage.NewMapPieceCompletion(), UsePartFiles: g.Some(false),
	})
	cfg.ListenHost = func(string) string { return ap.Addr().String() }
	cfg.ListenPort = int(ap.Port())
	cfg.DisableIPv6, cfg.DisableTCP, cfg.DisableUTP = true, true, false
	cfg.NoDHT, cfg.DisablePEX, cfg.DisableTrackers, cfg.DisableWebtorrent, cfg.DisableWebseeds = true, true, true, true, true
	cfg.NoDefaultPortForwarding, cfg.Seed, cfg.DialForPeerConns = true, true, true
	switch *enc {
	case "require":
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: true}
	case "off":
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: true}
	default:
		cfg.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: false}
	}
	cfg.Callbacks.PeerConnAdded = append(cfg.Callbacks.PeerConnAdded, func(pc *torrent.PeerConn) {
		mu.Lock()
		seen[pc.RemoteAddr.String()] = pc.Network
		mu.Unlock()
	})
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		fail(err)
	}
	defer cl.Close()
	emit("event", "listening", "addr", net.JoinHostPort(ap.Addr().String(), strconv.Itoa(cl.LocalPort())))
	peersSeen := func() []map[string]string {
		mu.Lock()
		defer mu.Unlock()
		var out []map[string]string
		for a, n := range seen {
			out = append(out, map[string]string{"addr": a, "network": n})
		}
		return out
	}

	mi, err := metainfo.LoadFromFile(*torrentPath)
	if err != nil {
		fail(err)
	}
	t, err := cl.AddTorrent(mi)
	if err != nil {
		fail(err)
	}
	<-t.GotInfo()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *seed {
		if err := t.VerifyDataContext(ctx); err != nil {
			fail(err)
		}
		if t.BytesMissing() != 0 {
			fail(fmt.Errorf("seed data incomplete: %d bytes missing", t.BytesMissing()))
		}
		emit("event", "ready")
	} else {
		t.DownloadAll()
	}
	// Dial the given peers, again every 2 s while none is connected: the other side may
	// still be starting, and the library waits long before retrying a failed peer.
	dial := func() {
		var pis []torrent.PeerInfo
		for _, p := range peers {
			a, err := netip.ParseAddrPort(p)
			if err != nil {
				fail(err)
			}
			pis = append(pis, torrent.PeerInfo{Addr: net.UDPAddrFromAddrPort(a), Trusted: true})
		}
		t.AddPeers(pis)
	}
	dial()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	start := time.Now()
	if *seed {
		for {
			select {
			case <-sig:
				st := t.Stats()
				emit("event", "exit", "uploaded", st.BytesWrittenData.Int64(), "peers", peersSeen())
				return
			case <-tick.C:
				if len(t.PeerConns()) == 0 {
					dial()
				}
			}
		}
	}
	for {
		select {
		case <-t.Complete().On():
			emit("event", "done", "secs", time.Since(start).Seconds(), "peers", peersSeen())
			return
		case <-tick.C:
			if len(t.PeerConns()) == 0 {
				dial()
			}
		case <-sig:
			fail(fmt.Errorf("stopped before done: %d of %d bytes", t.BytesCompleted(), t.Length()))
		case <-ctx.Done():
			fail(fmt.Errorf("timeout: %d of %d bytes, peers %v", t.BytesCompleted(), t.Length(), peersSeen()))
		}
	}
}
