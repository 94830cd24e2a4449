// Package memtrim keeps the resident memory of a long-running process close to what it uses:
// it gives back the pages of the executable that only start-up touched, and heap pages left
// free after the heap shrank or moved. `shoal tracker` uses both (its memory target is set
// against opentracker's, bench/tracker/RESULTS.md); they act on the whole process, so a
// library embedding the tracker leaves them to its command.
package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// ReleaseStats says what ReleaseExecutable did.
type ReleaseStats struct {
	Mappings int   // read-only mappings of the executable released
	Bytes    int64 // their resident bytes before the release
}

// ReleaseExecutable ends this process's mapping of the pages of its own executable that hold
// nothing of its own — code and read-only data, mapped from the file and never written — and
// drops the file's pages from the page cache that no process maps. What the process runs next
// is mapped back in, a page at a time: what goes is the residency of code run once at start-up
// (the package initialisation of every library linked in, most of which a server never calls
// again).
//
// Where the page cache holds files in large folios (recent Linux on ext4, measured on 6.18), a
// single touched byte maps a whole folio of up to 2 MiB, so a binary's start-up leaves most of
// it resident; the
// pages are clean and the kernel could reclaim them, but they count in the process's resident
// set. ReleaseExecutable therefore also marks the mappings MADV_NOHUGEPAGE and MADV_RANDOM, so
// that what is faulted back in comes a page at a time rather than a folio or a read-ahead window
// at a time. Other processes running the same binary keep what they map; they read from disk
// what they had not mapped. Call it once, after start-up. Elsewhere than Linux it does nothing.
func ReleaseExecutable() (ReleaseStats, error) { return releaseExecutable() }

// trimSamples are the runtime metrics a HeapTrimmer reads.
var trimSamples = [...]string{
	"/memory/classes/heap/objects:bytes", // live objects and garbage not yet swept
	"/gc/heap/allocs:bytes",              // allocated since the program started
}

// A HeapTrimmer returns the heap's free pages to the operating system once the heap has
// changed in bulk. The runtime's own scavenger returns free pages only down to about 10% over
// the GC goal, and slowly; and after a bulk change, such as a tracker's swarms growing to a
// million peers (each peer list reallocated as it grows), the garbage left is not even
// collected until the heap grows again. That leaves megabytes resident that the process does
// not use. The zero value is ready to use.
type HeapTrimmer struct {
	// MinBytes is the least allocation since the last trim worth a trim (and its garbage
	// collection); less than an eighth of the heap's objects is never worth one.
	MinBytes uint64

	allocs uint64 // allocated bytes at the last trim
}

// Trim collects garbage and returns the heap's free pages to the operating system
// (debug.FreeOSMemory) if the bytes allocated since the last trim, an upper bound on the
// garbage made and the heap grown since, reach MinBytes and an eighth of the heap's objects.
// It reports whether it trimmed.
func (t *HeapTrimmer) Trim() bool {
	var s [len(trimSamples)]metrics.Sample
	for i, name := range trimSamples {
		s[i].Name = name
	}
	metrics.Read(s[:])
	for _, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			return false
		}
	}
	objects, allocs := s[0].Value.Uint64(), s[1].Value.Uint64()
	churn := allocs - t.allocs
	if churn < t.MinBytes || churn < objects/8 {
		return false
	}
	debug.FreeOSMemory()
	t.allocs = allocs
	return true
}

// Every calls Trim every period until ctx is done. A check costs a microsecond; a trim costs a
// garbage collection, at most once a period.
func (t *HeapTrimmer) Every(ctx context.Context, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Trim()
		}
	}
}
