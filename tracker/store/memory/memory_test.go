package memory_test

import (
	"testing"

	"shoal/tracker/store"
	"shoal/tracker/store/memory"
	"shoal/tracker/store/storetest"
)

func newStore(l store.Limits) store.Store { return memory.New(l) }

func TestConformance(t *testing.T) { storetest.Run(t, newStore) }

func BenchmarkStore(b *testing.B) { storetest.Bench(b, newStore) }
