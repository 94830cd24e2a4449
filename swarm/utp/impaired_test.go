package utp

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/anacrolix/go-utp/impair"
)

// hardNetwork is issue 6's bad path, each direction: 1% loss, 50±20 ms, 0.5% duplicates.
func hardNetwork(seed uint64) impair.Config {
	return impair.Config{Loss: 0.01, Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond,
		Duplicate: 0.005, Seed: seed}
}

// relayedPair connects a to b through an impairing relay.
func relayedPair(t testing.TB, a, b *socket, up, down impair.Config) (dialed, accepted net.Conn, r *impair.Relay) {
	t.Helper()
	r, err := impair.NewRelay("127.0.0.1:0", b.Addr().String(), up, down)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := b.Accept()
		acc <- c
	}()
	d, err := a.DialContext(ctx, "udp", r.Addr().String())
	if err != nil {
		t.Fatalf("dial through relay: %v", err)
	}
	c := <-acc
	t.Cleanup(func() { d.Close(); c.Close() })
	return d, c, r
}

// TestImpairedTransfer moves data through loss, jitter (reordering) and duplication and
// checks every byte.
func TestImpairedTransfer(t *testing.T) {
	size := 2 << 20
	if v, _ := strconv.Atoi(os.Getenv("UTP_HARD_MIB")); v > 0 {
		size = v << 20
	}
	for _, c := range []struct {
		name string
		cfg  impair.Config
	}{
		{"hard 1pct loss 50ms jitter 20ms dup", hardNetwork(1)},
		{"reorder only", impair.Config{Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 2}},
		{"5pct loss", impair.Config{Loss: 0.05, Delay: 2 * time.Millisecond, Seed: 3}},
		{"rate 4MiB/s", impair.Config{Rate: 4 << 20, QueueBytes: 128 << 10, Delay: 10 * time.Millisecond, Seed: 4}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := newTestSocket(t), newTestSocket(t)
			down := c.cfg
			down.Seed += 100
			d, acc, r := relayedPair(t, a, b, c.cfg, down)
			el := transfer(t, d, acc, pattern(size, 7), 10*time.Minute)
			st := d.(*Conn).Stats()
			t.Logf("%d MiB in %v: %.2f MiB/s; up %+v down %+v; sender %+v; socket %+v", size>>20,
				el.Round(time.Millisecond), float64(size)/(1<<20)/el.Seconds(), r.Up.Stats(), r.Down.Stats(), st, a.Stats())
		})
	}
}
