package utp

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/go-utp/impair"
)

// countingReader counts what it drains from r.
func drain(r io.Reader, n *atomic.Int64) {
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		n.Add(int64(k))
		if err != nil {
			return
		}
	}
}

func pump(w io.Writer) {
	buf := pattern(64<<10, 8)
	for {
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

// rateOver returns the bytes per second n grows by over d.
func rateOver(n *atomic.Int64, d time.Duration) float64 {
	start := n.Load()
	time.Sleep(d)
	return float64(n.Load()-start) / d.Seconds()
}

// TestLEDBATYieldsToTCP shares a rate-limited link with a deep queue between a uTP flow and
// a TCP bulk flow: alone, uTP fills the link; once TCP fills the queue past the 100 ms
// target, uTP backs off and TCP takes most of the link (LEDBAT's purpose).
func TestLEDBATYieldsToTCP(t *testing.T) {
	const rate = 2 << 20
	// 512 KiB at 2 MiB/s is 250 ms of queue: a bloated buffer, above LEDBAT's target.
	fwd := impair.NewLink(impair.Config{Rate: rate, QueueBytes: 512 << 10, Delay: 5 * time.Millisecond}, 1)
	back := impair.NewLink(impair.Config{Delay: 5 * time.Millisecond}, 2)
	defer fwd.Close()
	defer back.Close()

	a, b := newTestSocket(t), newTestSocket(t)
	r, err := impair.NewRelayOnLinks("127.0.0.1:0", b.Addr().String(), fwd, back)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := b.Accept(); acc <- c }()
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	uc, err := a.DialContext(ctx, "udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	ur := <-acc
	defer ur.Close()
	var utpBytes, tcpBytes atomic.Int64
	go drain(ur, &utpBytes)
	go pump(uc)

	time.Sleep(2 * time.Second) // slow start, then LEDBAT settles
	alone := rateOver(&utpBytes, 2*time.Second)

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		c, err := tl.Accept()
		if err == nil {
			drain(c, &tcpBytes)
		}
	}()
	proxy, err := impair.NewTCPProxy("127.0.0.1:0", tl.Addr().String(), fwd)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	tc, err := net.Dial("tcp", proxy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	go pump(tc)

	time.Sleep(2 * time.Second)
	u0, t0 := utpBytes.Load(), tcpBytes.Load()
	time.Sleep(4 * time.Second)
	ushared, tshared := float64(utpBytes.Load()-u0)/4, float64(tcpBytes.Load()-t0)/4
	share := ushared / (ushared + tshared)
	st := uc.(*Conn).Stats()
	t.Logf("link %.2f MiB/s: uTP alone %.2f MiB/s; shared: uTP %.2f MiB/s, TCP %.2f MiB/s (uTP share %.0f%%); uTP cwnd %d delay %v",
		float64(rate)/(1<<20), alone/(1<<20), ushared/(1<<20), tshared/(1<<20), 100*share, st.Cwnd, st.Delay)
	if alone < 0.6*rate {
		t.Errorf("uTP alone used %.0f%% of the link", 100*alone/rate)
	}
	if share > 0.25 {
		t.Errorf("uTP kept %.0f%% of the link against TCP: LEDBAT did not yield", 100*share)
	}
}
