package tracker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"time"

	"shoal/tracker/store"
	"shoal/tracker/store/memory"
)

// Server is a running tracker: its listeners, store and front ends.
type Server struct {
	cfg     Config
	store   store.Store
	access  *access
	stats   *stats
	logic   *logic
	httpLn  net.Listener
	udpConn *net.UDPConn
	metLn   net.Listener

	closeOnce sync.Once
	runMu     sync.Mutex
	running   bool
}

// New checks cfg, reads the allow and passkey files, and binds the listeners (so the bound
// addresses, and AnnounceURL, are known before Run). Call Run to serve, or Close to give the
// listeners back without serving.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	acc, err := newAccess(cfg.AllowFile, cfg.PasskeyFile)
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	st := memory.New(store.Limits{TTL: cfg.peerTTL(), MaxTorrents: cfg.MaxTorrents, MaxPeersPerTorrent: cfg.MaxPeersPerTorrent})
	s := &Server{cfg: cfg, store: st, access: acc, stats: &stats{}}
	s.logic = &logic{
		store:  st,
		access: acc,
		limits: limits{
			defaultNumWant:  cfg.DefaultNumWant,
			maxNumWant:      cfg.MaxNumWant,
			maxScrapeHashes: cfg.MaxScrapeHashes,
		},
		interval:    cfg.Interval,
		minInterval: cfg.MinInterval,
	}
	if err := s.listen(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) listen() error {
	var err error
	if s.cfg.HTTPAddr != "" {
		if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("tracker: listen http %s: %w", s.cfg.HTTPAddr, err)
		}
	}
	if s.cfg.UDPAddr != "" {
		addr, err := net.ResolveUDPAddr("udp", s.cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("tracker: udp address %s: %w", s.cfg.UDPAddr, err)
		}
		if s.udpConn, err = net.ListenUDP("udp", addr); err != nil {
			return fmt.Errorf("tracker: listen udp %s: %w", s.cfg.UDPAddr, err)
		}
	}
	if s.cfg.MetricsAddr != "" {
		if s.metLn, err = net.Listen("tcp", s.cfg.MetricsAddr); err != nil {
			return fmt.Errorf("tracker: listen metrics %s: %w", s.cfg.MetricsAddr, err)
		}
	}
	return nil
}

// Run serves until ctx is done, then stops accepting, lets requests in progress finish (for at
// most a few seconds) and returns. It returns an error only if a front end fails to serve.
// Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	s.runMu.Lock()
	if s.running {
		s.runMu.Unlock()
		return errors.New("tracker: Run called twice")
	}
	s.running = true
	s.runMu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := s.cfg.logger()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { s.stats.run(ctx) })
	wg.Go(func() { s.collect(ctx) })

	var hf *httpFront
	if s.httpLn != nil {
		hf = newHTTPFront(&s.cfg, s.logic, s.stats, s.httpLn)
		wg.Go(func() {
			if err := hf.serve(ctx); err != nil {
				errs <- fmt.Errorf("tracker: http: %w", err)
				cancel()
			}
		})
	}
	var uf *udpFront
	if s.udpConn != nil {
		uf = newUDPFront(&s.cfg, s.logic, s.stats, s.udpConn)
		wg.Go(func() { uf.serve(ctx) })
	}
	var metrics *http.Server
	if s.metLn != nil {
		metrics = &http.Server{
			Handler:           s.metricsHandler(),
			ReadHeaderTimeout: s.cfg.HTTPReadTimeout,
			ReadTimeout:       s.cfg.HTTPReadTimeout,
			WriteTimeout:      30 * time.Second, // pprof profiles take a while
			IdleTimeout:       s.cfg.HTTPIdleTimeout,
			MaxHeaderBytes:    s.cfg.HTTPMaxRequestBytes,
		}
		wg.Go(func() {
			if err := metrics.Serve(s.metLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("tracker: metrics: %w", err)
				cancel()
			}
		})
	}
	log.Info("tracker serving", "http", addrString(s.HTTPAddr()), "udp", addrString(s.UDPAddr()), "metrics", addrString(s.MetricsAddr()),
		"interval", s.cfg.Interval, "peer_ttl", s.cfg.peerTTL())

	<-ctx.Done()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer stopCancel()
	if hf != nil {
		hf.stop(stopCtx)
	}
	if uf != nil {
		uf.stop()
	}
	if metrics != nil {
		metrics.Shutdown(stopCtx)
	}
	wg.Wait()
	s.closeOnce.Do(func() {})
	log.Info("tracker stopped")
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// Close releases the listeners of a Server whose Run was never called (Run releases them
// itself when its context ends).
func (s *Server) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		if s.httpLn != nil {
			errs = append(errs, s.httpLn.Close())
		}
		if s.udpConn != nil {
			errs = append(errs, s.udpConn.Close())
		}
		if s.metLn != nil {
			errs = append(errs, s.metLn.Close())
		}
	})
	return errors.Join(errs...)
}

// collect sweeps expired peers out of the store.
func (s *Server) collect(ctx context.Context) {
	t := time.NewTicker(s.cfg.collectInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := s.store.Collect(ctx, now); err != nil {
				s.cfg.logger().Error("tracker: collecting expired peers failed", "err", err)
			}
		}
	}
}

// Reload re-reads the allow and passkey files (the command calls it on SIGHUP). On error the
// lists in force stay.
func (s *Server) Reload() error {
	if err := s.access.reload(); err != nil {
		return fmt.Errorf("tracker: reload: %w", err)
	}
	return nil
}

// Stats returns the figures served at /stats.
func (s *Server) Stats(ctx context.Context) (Stats, error) {
	return s.stats.snapshot(ctx, s.store)
}

// HTTPAddr returns the bound HTTP address, or nil if HTTP is off.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// UDPAddr returns the bound UDP address, or nil if UDP is off.
func (s *Server) UDPAddr() net.Addr {
	if s.udpConn == nil {
		return nil
	}
	return s.udpConn.LocalAddr()
}

// MetricsAddr returns the bound metrics address, or nil if metrics are off.
func (s *Server) MetricsAddr() net.Addr {
	if s.metLn == nil {
		return nil
	}
	return s.metLn.Addr()
}

// AnnounceURL returns the HTTP announce URL of the bound address, e.g.
// "http://127.0.0.1:6969/announce", or "" if HTTP is off. A wildcard bind (":6969",
// "0.0.0.0:…", "[::]:…") is reported with 127.0.0.1: a torrent meant for other machines needs
// the host name they reach, which only the caller knows.
func (s *Server) AnnounceURL() string {
	return announceURL("http", s.HTTPAddr())
}

// UDPAnnounceURL returns "udp://host:port/announce" for the bound UDP address, or "".
func (s *Server) UDPAnnounceURL() string {
	return announceURL("udp", s.UDPAddr())
}

func announceURL(scheme string, a net.Addr) string {
	if a == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return ""
	}
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return scheme + "://" + netip.AddrPortFrom(ip.WithZone(""), ap.Port()).String() + "/announce"
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

func (s *Server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Stats(r.Context())
		if err != nil {
			http.Error(w, "stats unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		writeStatsJSON(w, st)
	})
	mux.Handle("GET /metrics", s.prometheusHandler())
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
