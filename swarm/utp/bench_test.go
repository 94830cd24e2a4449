package utp

import (
	"io"
	"testing"
	"time"
)

// BenchmarkLoopback measures one connection's throughput over loopback: b.N is bytes.
func BenchmarkLoopback(b *testing.B) {
	sa, sb := newTestSocket(b), newTestSocket(b)
	d, acc := connPair(b, sa, sb)
	chunk := pattern(1<<20, 1)
	b.SetBytes(1)
	b.ReportAllocs()
	done := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, acc)
		done <- n
	}()
	b.ResetTimer()
	left := b.N
	for left > 0 {
		k := min(left, len(chunk))
		if _, err := d.Write(chunk[:k]); err != nil {
			b.Fatal(err)
		}
		left -= k
	}
	d.Close()
	select {
	case n := <-done:
		if n != int64(b.N) {
			b.Fatalf("received %d of %d", n, b.N)
		}
	case <-time.After(time.Minute):
		b.Fatal("receiver stuck")
	}
}
