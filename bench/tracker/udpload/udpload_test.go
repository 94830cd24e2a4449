package udpload

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"shoal/tracker"
)

// TestLoad is the load generator's entry point for bench/tracker/run.sh; it does nothing unless
// UDPLOAD_TARGET is set:
//
//	UDPLOAD_TARGET=127.0.0.1:6969 UDPLOAD_IH_FILE=ih.txt [UDPLOAD_PEERS=100000]
//	[UDPLOAD_SOCKETS=16] [UDPLOAD_DEPTH=4] [UDPLOAD_DURATION=15s] [UDPLOAD_NUMWANT=50] [UDPLOAD_FILL=N]
//
// With UDPLOAD_FILL=N it announces N peers to each torrent once instead (for memory figures).
// It prints one RESULT line.
func TestLoad(t *testing.T) {
	target := os.Getenv("UDPLOAD_TARGET")
	if target == "" {
		t.Skip("UDPLOAD_TARGET not set: this is the benchmark entry point")
	}
	cfg := Config{
		Target:      target,
		Peers:       envInt(t, "UDPLOAD_PEERS", 100_000),
		Sockets:     envInt(t, "UDPLOAD_SOCKETS", 16),
		Depth:       envInt(t, "UDPLOAD_DEPTH", 4),
		Duration:    envDuration(t, "UDPLOAD_DURATION", 15*time.Second),
		NumWant:     int32(envInt(t, "UDPLOAD_NUMWANT", 50)),
		Timeout:     time.Second,
		SeederShare: 4,
	}
	if f := os.Getenv("UDPLOAD_IH_FILE"); f != "" {
		cfg.InfoHashes = readHashes(t, f)
	} else {
		cfg.InfoHashes = RandomInfoHashes(10_000)
	}
	if fill := envInt(t, "UDPLOAD_FILL", 0); fill > 0 {
		start := time.Now()
		n, err := Fill(context.Background(), cfg, fill)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("FILLED peers=%d seconds=%.1f\n", n, time.Since(start).Seconds())
		return
	}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(r)
}

// TestAgainstShoal checks the generator itself against an in-process shoal tracker.
func TestAgainstShoal(t *testing.T) {
	tc := tracker.DefaultConfig()
	tc.HTTPAddr, tc.UDPAddr = "", "127.0.0.1:0"
	tc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := tracker.New(tc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	cfg := Config{Target: srv.UDPAddr().String(), InfoHashes: RandomInfoHashes(100), Peers: 1000, Sockets: 4, Depth: 3,
		Duration: 500 * time.Millisecond, NumWant: 50, Timeout: time.Second, SeederShare: 4}
	r, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors != 0 || r.P99 <= 0 {
		t.Errorf("load run: %v", r)
	}
	n, err := Fill(ctx, cfg, 10)
	if err != nil || n != 1000 {
		t.Fatalf("fill: %d announces, %v", n, err)
	}
	st, _ := srv.Stats(ctx)
	if st.Torrents != 100 || st.Seeders+st.Leechers < 1000 {
		t.Errorf("after fill: %+v", st)
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

func readHashes(t *testing.T, path string) [][20]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][20]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if len(line) != 40 {
			continue
		}
		var h [20]byte
		if _, err := hex.Decode(h[:], []byte(line)); err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		out = append(out, h)
	}
	return out
}
