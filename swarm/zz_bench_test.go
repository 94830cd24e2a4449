package swarm

import (
	"context"
	"testing"
)

func BenchmarkZZFolder(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Create(context.Background(), "/tmp/shoal-bench-create/many", CreateOptions{PieceLength: 512 << 10}); err != nil {
			b.Fatal(err)
		}
	}
}
func BenchmarkZZOne(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Create(context.Background(), "/tmp/shoal-bench-create/one/1GiB.bin", CreateOptions{PieceLength: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}
