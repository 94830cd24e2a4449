package memtrim

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// mapping is one line of /proc/self/smaps with the fields releaseExecutable reads.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rss, anon  int64 // KiB
}

func releaseExecutable() (ReleaseStats, error) {
	var st ReleaseStats
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return st, err
	}
	maps, err := readSmaps()
	if err != nil {
		return st, err
	}
	for _, m := range maps {
		// Only private, read-only mappings of the executable with no anonymous page: one that
		// has some was written (the dynamic linker's relocations, write-protected afterwards),
		// and dropping those pages would lose the writes.
		if m.path != exe || len(m.perms) < 4 || m.perms[1] == 'w' || m.perms[3] != 'p' || m.anon != 0 {
			continue
		}
		n := m.end - m.start
		// Advice first, so that nothing faulted back in comes as a huge page or with read-ahead.
		madvise(m.start, n, syscall.MADV_NOHUGEPAGE)
		madvise(m.start, n, syscall.MADV_RANDOM)
		// MADV_PAGEOUT reclaims the range's clean pages inside the call, including folios
		// this code runs from, which MADV_DONTNEED followed by fadvise cannot drop (the
		// thread maps them again on returning from madvise); measured: RssFile 0.4 MiB lower
		// (bench/tracker/RESULTS.md). Best effort: it needs Linux 5.4 and write permission on
		// the file (root, or the file's owner); without them the calls below do what they can.
		madvise(m.start, n, madvPageout)
		if err := madvise(m.start, n, syscall.MADV_DONTNEED); err != nil {
			return st, err
		}
		st.Mappings++
		st.Bytes += m.rss << 10
	}
	if st.Mappings > 0 {
		// Drop the file's cached folios no process maps now, so that what this process
		// touches next is read back at the granularity just asked for rather than mapped a
		// whole large folio at a time. Best effort: a file system may ignore it.
		if f, err := os.Open(exe); err == nil {
			fadviseDontneed(f.Fd())
			f.Close()
		}
	}
	return st, nil
}

const madvPageout = 21 // MADV_PAGEOUT (Linux 5.4); not in package syscall

func madvise(addr, n uintptr, advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, n, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

// readSmaps parses /proc/self/smaps.
func readSmaps() ([]mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var maps []mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) == 0 {
			continue
		}
		// A mapping's first line starts with its address range; the lines after it are
		// "Name: value kB".
		if lo, hi, ok := bytes.Cut(fields[0], []byte{'-'}); ok && len(fields) >= 5 {
			start, err1 := strconv.ParseUint(string(lo), 16, 64)
			end, err2 := strconv.ParseUint(string(hi), 16, 64)
			if err1 == nil && err2 == nil {
				m := mapping{start: uintptr(start), end: uintptr(end), perms: string(fields[1])}
				if len(fields) >= 6 {
					m.path = string(bytes.Join(fields[5:], []byte{' '}))
				}
				maps = append(maps, m)
				continue
			}
		}
		if len(maps) == 0 || len(fields) < 2 {
			continue
		}
		m := &maps[len(maps)-1]
		switch string(fields[0]) {
		case "Rss:":
			m.rss, _ = strconv.ParseInt(string(fields[1]), 10, 64)
		case "Anonymous:":
			m.anon, _ = strconv.ParseInt(string(fields[1]), 10, 64)
		}
	}
	return maps, sc.Err()
}
