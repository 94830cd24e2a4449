package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"shoal/swarm"
)

// bigTorrent is the benchmark's torrent: 500 peers and 20,000 pieces.
func bigTorrent(ih string, peers, pieces int) swarm.TorrentView {
	tv := fixtureSnapshot().Torrents[0]
	tv.InfoHash, tv.NumPieces = ih, pieces
	tv.Peers = make([]swarm.PeerView, peers)
	for i := range tv.Peers {
		tv.Peers[i] = swarm.PeerView{
			Addr: fmt.Sprintf("10.%d.%d.%d:6881", i/65536, i/256%256, i%256), Client: "qBittorrent 5.0.1",
			Source: "dht", Encrypted: i%2 == 0, Progress: float64(i%100) / 100,
			DownRate: float64(i * 1000 % 77777), UpRate: float64(i * 300 % 5555),
		}
	}
	tv.Pieces = make([]swarm.PieceState, pieces)
	for i := range tv.Pieces {
		tv.Pieces[i] = swarm.PieceState(i * 7 % 3)
	}
	return tv
}

func benchModel(b *testing.B, w, h int, keys ...string) (*Model, *fakeEngine) {
	s := fixtureSnapshot()
	s.Torrents[0] = bigTorrent(ihUbuntu, 500, 20_000)
	m, eng := newTestModel(nil, w, h)
	eng.avail[ihUbuntu] = fixtureAvailability(20_000)
	feedHistory(m, s)
	for _, k := range keys {
		_, cmd := m.Update(keyPress(k))
		runCmd(m, cmd, 0)
	}
	return m, eng
}

// View with 500 peers and 20,000 pieces, on each screen, at 80x24 and at
// a large 200x60. Budget: 2 ms.
func BenchmarkView(b *testing.B) {
	screens := []struct {
		name string
		keys []string
	}{
		{"list", nil},
		{"peers", []string{"enter"}},
		{"pieces", []string{"enter", "2"}},
		{"files", []string{"enter", "3"}},
		{"trackers", []string{"enter", "4"}},
		{"rates", []string{"enter", "5"}},
		{"help", []string{"?"}},
	}
	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		for _, sc := range screens {
			b.Run(fmt.Sprintf("%s-%dx%d", sc.name, size[0], size[1]), func(b *testing.B) {
				m, _ := benchModel(b, size[0], size[1], sc.keys...)
				b.ReportAllocs()
				for b.Loop() {
					_ = m.View()
				}
			})
		}
	}
}

// The other half of a frame: taking a snapshot of 500 peers and 20,000
// pieces into the model (sorting peers, building the piece map), which
// happens once a second.
func BenchmarkSnapshotUpdate(b *testing.B) {
	for _, sc := range []struct {
		name string
		keys []string
	}{{"list", nil}, {"peers", []string{"enter"}}, {"pieces", []string{"enter", "2"}}} {
		b.Run(sc.name, func(b *testing.B) {
			m, _ := benchModel(b, 200, 60, sc.keys...)
			s := fixtureSnapshot()
			s.Torrents[0] = bigTorrent(ihUbuntu, 500, 20_000)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				c := *s
				c.Time = t0.Add(time.Duration(i) * time.Second)
				m.Update(snapshotMsg{snap: &c})
				m.availBusy = false
			}
		})
	}
}

// idleEngine publishes a 50-torrent snapshot every second, as the swarm
// engine's sampler does whether or not anything changed.
func idleEngine(n int) (*fakeEngine, func()) {
	base := fixtureSnapshot()
	s := &swarm.Snapshot{ListenAddr: "0.0.0.0:42069", DHTNodes: 300}
	for i := range n {
		tv := base.Torrents[i%len(base.Torrents)]
		tv.InfoHash = fmt.Sprintf("%040x", i+1)
		tv.Name = "torrent " + strconv.Itoa(i)
		s.Torrents = append(s.Torrents, tv)
	}
	eng := newFakeEngine(s)
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				c := *s
				c.Time = now
				eng.publish(&c)
			}
		}
	}()
	return eng, func() { close(stop) }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// An idle UI with 50 torrents: the whole program (bubbletea's renderer
// included) runs for SHOAL_IDLE_SECONDS (default 10) on a fake engine that
// publishes every second, and the process's CPU time is compared with the
// wall time. Budget: 2% of a core.
func BenchmarkIdleUI50Torrents(b *testing.B) {
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("SHOAL_IDLE_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	for _, sc := range []struct {
		name string
		keys []string
	}{{"list", nil}, {"pieces", []string{"enter", "2"}}} {
		b.Run(sc.name, func(b *testing.B) {
			for b.Loop() {
				eng, stop := idleEngine(50)
				m := New(eng, Options{})
				in, inw := io.Pipe() // no keys arrive: idle
				// The options Run uses, on a 120x40 true-colour "terminal".
				p := tea.NewProgram(m, programOptions(context.Background(), RunOptions{
					Input: in, Output: io.Discard,
					ProgramOptions: []tea.ProgramOption{tea.WithWindowSize(120, 40),
						tea.WithColorProfile(colorprofile.TrueColor), tea.WithoutSignals()},
				})...)
				done := make(chan error, 1)
				go func() { _, err := p.Run(); done <- err }()
				time.Sleep(500 * time.Millisecond) // start-up is not idle
				for _, k := range sc.keys {
					p.Send(keyPress(k))
				}
				time.Sleep(500 * time.Millisecond)
				c0, w0 := cpuTime(), time.Now()
				time.Sleep(time.Duration(secs) * time.Second)
				cpu, wall := cpuTime()-c0, time.Since(w0)
				p.Quit()
				<-done
				inw.Close()
				stop()
				pct := 100 * cpu.Seconds() / wall.Seconds()
				b.ReportMetric(pct, "%cpu")
				b.ReportMetric(0, "ns/op")
				if pct > 2 {
					b.Errorf("idle UI used %.2f%% of a core (budget 2%%)", pct)
				}
			}
		})
	}
}
