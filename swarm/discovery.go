package swarm

import (
	"errors"
	"fmt"
	"net"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"
)

// configureDiscovery sets up how peers are found without a tracker: the
// DHT (BEP 5), local service discovery (BEP 14) and peer exchange (BEP 11).
func (e *Engine) configureDiscovery(tc *torrent.ClientConfig) {
	c := e.cfg
	tc.DisablePEX = c.NoPEX
	tc.NoDHT = c.NoDHT
	if !c.NoDHT && len(c.DHTBootstrap) > 0 {
		boot := append([]string(nil), c.DHTBootstrap...)
		tc.DhtStartingNodes = func(network string) dht.StartingNodesGetter {
			return func() ([]dht.Addr, error) { return resolveNodes(network, boot) }
		}
	}
	if !c.NoLSD {
		tc.LocalServiceDiscovery = &torrent.LocalServiceDiscoveryConfig{}
	}
}

// resolveNodes turns HOST:PORT bootstrap addresses into DHT addresses of
// the given network ("udp4"/"udp6"), skipping the other family.
func resolveNodes(network string, hostports []string) ([]dht.Addr, error) {
	var out []dht.Addr
	var errs []error
	for _, hp := range hostports {
		ua, err := net.ResolveUDPAddr(network, hp)
		if err != nil {
			errs = append(errs, fmt.Errorf("dht bootstrap %q: %w", hp, err))
			continue
		}
		out = append(out, dht.NewAddr(ua))
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// startDiscovery runs after the client starts.
func (e *Engine) startDiscovery() {}

// stopDiscovery runs before the client closes.
func (e *Engine) stopDiscovery() {}
