package impair

import (
	"encoding/binary"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// collect sends n numbered datagrams through a link, spaced by gap, and returns the
// numbers in the order they came out.
func collect(t *testing.T, cfg Config, n int, size int, gap time.Duration) ([]uint32, Stats) {
	t.Helper()
	l := NewLink(cfg, 7)
	var mu sync.Mutex
	var got []uint32
	b := make([]byte, size)
	for i := range n {
		binary.BigEndian.PutUint32(b, uint32(i))
		l.Send(b, func(p []byte) {
			mu.Lock()
			got = append(got, binary.BigEndian.Uint32(p))
			mu.Unlock()
		})
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	// Wait for the link to go quiet.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := l.Stats()
		if st.Out+st.Lost+st.QueueDrops >= st.In+st.Duplicated || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.Close()
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got), l.Stats()
}

func TestLossAndDuplicationRates(t *testing.T) {
	cfg := Config{Loss: 0.1, Duplicate: 0.05, Seed: 42}
	const n = 20000
	got, st := collect(t, cfg, n, 64, 0)
	lossRate := float64(st.Lost) / n
	dupRate := float64(st.Duplicated) / float64(n-st.Lost)
	if math.Abs(lossRate-0.1) > 0.015 || math.Abs(dupRate-0.05) > 0.01 {
		t.Fatalf("loss %.3f (want 0.1), duplication %.3f (want 0.05)", lossRate, dupRate)
	}
	if int64(len(got)) != st.Out || st.Out != n-st.Lost+st.Duplicated {
		t.Fatalf("delivered %d, stats %+v", len(got), st)
	}
	// The same seed makes the same decisions.
	again, _ := collect(t, cfg, n, 64, 0)
	if !slices.Equal(got, again) {
		t.Fatal("two runs with one seed dropped or duplicated different datagrams")
	}
	other, _ := collect(t, Config{Loss: 0.1, Duplicate: 0.05, Seed: 43}, n, 64, 0)
	if slices.Equal(got, other) {
		t.Fatal("a different seed made identical decisions")
	}
}

func TestJitterReorders(t *testing.T) {
	cfg := Config{Delay: 30 * time.Millisecond, Jitter: 10 * time.Millisecond, Seed: 1}
	start := time.Now()
	got, _ := collect(t, cfg, 300, 64, 100*time.Microsecond)
	if len(got) != 300 {
		t.Fatalf("delivered %d of 300", len(got))
	}
	inversions := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			inversions++
		}
	}
	if inversions < 30 {
		t.Fatalf("only %d of 300 datagrams overtaken: jitter does not reorder", inversions)
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Fatalf("all delivered in %v, under the minimum delay", el)
	}
}

func TestRateLimit(t *testing.T) {
	// 400 KB at 1 MB/s takes about 0.4 s, with a queue big enough to hold it all.
	cfg := Config{Rate: 1 << 20, QueueBytes: 1 << 20}
	start := time.Now()
	got, _ := collect(t, cfg, 400, 1024, 0)
	el := time.Since(start)
	if len(got) != 400 || el < 330*time.Millisecond || el > 800*time.Millisecond {
		t.Fatalf("delivered %d in %v; want 400 in about 390ms", len(got), el)
	}
	// A small queue drops the excess instead (drop-tail).
	_, st := collect(t, Config{Rate: 1 << 20, QueueBytes: 32 << 10}, 400, 1024, 0)
	if st.QueueDrops < 300 || st.Out > 100 {
		t.Fatalf("small queue: %+v", st)
	}
	if !slices.IsSorted(got) {
		t.Fatal("a rate limit alone reordered datagrams")
	}
}

func TestSendWaitBlocksInsteadOfDropping(t *testing.T) {
	l := NewLink(Config{Rate: 1 << 20, QueueBytes: 16 << 10, Loss: 1}, 1)
	defer l.Close()
	var n int
	var mu sync.Mutex
	start := time.Now()
	for range 200 {
		l.SendWait(make([]byte, 1024), func([]byte) { mu.Lock(); n++; mu.Unlock() })
	}
	// 200 KiB through a 16 KiB queue at 1 MiB/s: the sender waits for most of it.
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("SendWait did not block: %v", el)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if n != 200 {
		t.Fatalf("delivered %d of 200 (SendWait ignores Loss)", n)
	}
}

func TestRelayForwardsBothWays(t *testing.T) {
	echo, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			echo.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	r, err := NewRelay("127.0.0.1:0", echo.LocalAddr().String(), Config{Delay: 5 * time.Millisecond}, Config{Delay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("echo through relay: %q, %v", buf[:n], err)
	}
	if el := time.Since(start); el < 10*time.Millisecond {
		t.Fatalf("round trip %v is shorter than the two 5ms delays", el)
	}
	if r.Up.Stats().Out != 1 || r.Down.Stats().Out != 1 {
		t.Fatalf("up %+v down %+v", r.Up.Stats(), r.Down.Stats())
	}
}
