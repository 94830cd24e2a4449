package memtrim

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusKiB reads a field of /proc/self/status in KiB, or -1.
func statusKiB(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && name == field {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

func TestReleaseExecutable(t *testing.T) {
	before := statusKiB(t, "RssFile")
	st, err := ReleaseExecutable()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" {
		if st.Mappings != 0 {
			t.Errorf("released %+v outside Linux", st)
		}
		return
	}
	if st.Mappings == 0 || st.Bytes <= 0 {
		t.Fatalf("released nothing: %+v", st)
	}
	// The process goes on: code and read-only data come back as they are touched.
	runtime.GC()
	var b strings.Builder
	for i := range 1000 {
		b.WriteString(strconv.Itoa(i))
	}
	if b.Len() != 2890 {
		t.Fatalf("built %d bytes", b.Len())
	}
	after := statusKiB(t, "RssFile")
	t.Logf("released %d mappings, %d KiB; RssFile %d KiB before, %d KiB after", st.Mappings, st.Bytes>>10, before, after)
	if before > 0 && after >= before {
		t.Errorf("RssFile %d KiB after the release, %d KiB before", after, before)
	}
	// A second call finds much less to release.
	again, err := ReleaseExecutable()
	if err != nil || again.Bytes >= st.Bytes {
		t.Errorf("second release: %+v %v, first %+v", again, err, st)
	}
}

func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var sink [][]byte

func TestHeapTrimmer(t *testing.T) {
	tr := &HeapTrimmer{MinBytes: 1 << 20}
	tr.Trim() // from here on, only what this test allocates counts
	if tr.Trim() {
		t.Errorf("trimmed with nothing allocated since the last trim")
	}
	// 32 MiB in 1 MiB blocks, then garbage, not yet collected.
	for range 32 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	if (&HeapTrimmer{MinBytes: 1 << 40}).Trim() {
		t.Errorf("trimmed below its minimum")
	}
	if !tr.Trim() {
		t.Fatalf("did not trim after 32 MiB of garbage")
	}
	// Of the 32 MiB, little is left free and resident: the runtime keeps some pages cached
	// per P, and the test runner allocates too.
	if free := heapFree(); free > 8<<20 {
		t.Errorf("%d bytes still free after the trim", free)
	}
	if tr.Trim() {
		t.Errorf("trimmed again with nothing allocated since")
	}
}

func TestHeapTrimmerEveryStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { (&HeapTrimmer{}).Every(ctx, time.Millisecond); close(done) }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
}
