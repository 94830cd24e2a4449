// Package anacrolix only pins the library version used to build anacrolix's
// own command-line client (github.com/anacrolix/torrent/cmd/torrent) for the
// throughput benchmark, without touching the main module's go.mod:
//
//	cd bench/throughput/anacrolix && go build -o /tmp/anacrolix-torrent github.com/anacrolix/torrent/cmd/torrent
package anacrolix
