package tui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"shoal/swarm"
)

// downloadingEngine is a fake engine that, once a magnet link is added,
// publishes snapshots of it fetching metadata, downloading and completing,
// a few tens of milliseconds apart.
func downloadingEngine() *fakeEngine {
	eng := newFakeEngine(&swarm.Snapshot{Time: t0, ListenAddr: "127.0.0.1:42069"})
	eng.add = func(raw string) (string, error) {
		ih := strings.TrimPrefix(raw, "magnet:?xt=urn:btih:")[:40]
		go func() {
			const pieces = 64
			for step := 0; step <= 5; step++ {
				tv := swarm.TorrentView{InfoHash: ih, Name: "flow-test.iso", State: swarm.StateMetadata,
					DataDir: "/tmp/flow", Magnet: raw, PeersConnected: 1, PeersKnown: 1}
				if step > 0 {
					tv.HasInfo, tv.Size, tv.Wanted, tv.PieceLength, tv.NumPieces = true, pieces<<20, pieces<<20, 1<<20, pieces
					tv.Done = int64(step-1) * (pieces << 20) / 4
					tv.State, tv.DownRate = swarm.StateDownloading, 8<<20
					tv.Pieces = make([]swarm.PieceState, pieces)
					for i := range tv.Pieces[:int(tv.Done>>20)] {
						tv.Pieces[i] = swarm.PieceComplete
					}
					if tv.Done == tv.Wanted {
						tv.State, tv.DownRate = swarm.StateSeeding, 0
					}
				}
				eng.publish(&swarm.Snapshot{Time: t0.Add(time.Duration(step) * time.Second), Torrents: []swarm.TorrentView{tv},
					DownRate: tv.DownRate, ListenAddr: "127.0.0.1:42069"})
				time.Sleep(40 * time.Millisecond)
			}
		}()
		return ih, nil
	}
	return eng
}

// The main job in the UI: add a magnet link, watch it complete, quit.
func TestFlowAddMagnetCompleteQuit(t *testing.T) {
	eng := downloadingEngine()
	m := New(eng, Options{Now: fixedNow})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	waitFor := func(what string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
			teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	}
	waitFor("No torrents yet")
	tm.Send(keyPress("a"))
	waitFor("Add a torrent")
	magnet := "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20) + "&dn=flow-test.iso"
	tm.Send(tea.PasteMsg{Content: magnet + "\n"})
	tm.Send(keyPress("enter"))
	waitFor("flow-test.iso complete")
	tm.Send(keyPress("q"))
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)

	if calls := eng.Calls(); len(calls) != 1 || calls[0] != "add "+magnet {
		t.Errorf("engine calls %q", calls)
	}
	sel := final.list.selected()
	if sel == nil || !sel.Complete() || sel.State != swarm.StateSeeding {
		t.Fatalf("final selection %+v, want the completed torrent", sel)
	}
	if final.overlay != overlayNone {
		t.Errorf("a dialog is still open")
	}
}
