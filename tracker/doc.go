// Package tracker is shoal's BitTorrent tracker: HTTP (BEP 3, 23, 7, 48) and UDP (BEP 15, 41)
// front ends over one protocol-agnostic Logic and an in-memory peer store.
//
// # Embedding
//
// The same code runs as `shoal tracker` and inside `shoal seed --serve-tracker ADDR`:
//
//	cfg := tracker.DefaultConfig()
//	cfg.HTTPAddr = "127.0.0.1:0" // port 0: pick a free port
//	cfg.UDPAddr = ""             // "" turns a front end off
//	srv, err := tracker.New(cfg) // binds the listeners
//	if err != nil { … }
//	url := srv.AnnounceURL()     // "http://127.0.0.1:41234/announce": the port actually bound
//	go srv.Run(ctx)              // serves until ctx is done, then shuts down cleanly
//
// New binds, Run serves, and Close gives the listeners back if Run is never called. Reload
// re-reads the allow and passkey files (the command calls it on SIGHUP; the package itself
// installs no signal handler).
//
// # Layout
//
//   - config.go: Config and its defaults; every limit against hostile input is a field.
//   - logic.go: Logic, what both front ends call; sanitize.go: the one checking step;
//     errors.go: ClientError, the only error text a client ever sees; access.go: allow list
//     and passkeys.
//   - httphead.go, httpquery.go, httpfront.go: the HTTP front end (its own HTTP/1.1 reader, so
//     every bad request gets a bencoded failure); bencode.go: the replies. httpscrape.go: a
//     scrape whose request line overflows the connection's buffer (thousands of info_hash
//     parameters) is streamed through the scrape query scanner rather than refused, keeping
//     the first MaxScrapeHashes, up to HTTPMaxScrapeLineBytes.
//   - udpproto.go, udpfront.go, connid.go: the UDP front end and its stateless connection IDs;
//     udpbatch_linux.go: recvmmsg/sendmmsg batching (golang.org/x/net/ipv4).
//   - stats.go: counters, /stats and /metrics; server.go: listeners and lifecycle.
//   - store/: the Store contract, store/memory the implementation, store/storetest the
//     conformance suite and benchmarks.
//   - memtrim/: process-wide resident-memory trimming (the executable's start-up pages, free
//     heap pages) that `shoal tracker` applies; the package itself never calls it.
package tracker
