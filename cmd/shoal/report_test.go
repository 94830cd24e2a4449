package main

import (
	"strings"
	"testing"

	"shoal/swarm"
)

func TestProgressLine(t *testing.T) {
	tv := swarm.TorrentView{Name: "release", HasInfo: true, State: swarm.StateDownloading,
		Wanted: 100 << 20, Done: 25 << 20, DownRate: 5 << 20, PeersConnected: 3, Seeds: 1}
	bar := progressLine([]swarm.TorrentView{tv}, 0)
	for _, want := range []string{"[#####...............]", "25.0%", "25.0 MiB/100.0 MiB", "↓ 5.0 MiB/s", "peers 3 (1 seeds)", "ETA 15s"} {
		if !strings.Contains(bar, want) {
			t.Errorf("progress line %q lacks %q", bar, want)
		}
	}
	if plain := progressLine([]swarm.TorrentView{tv}, -1); strings.Contains(plain, "[") {
		t.Errorf("plain line has a bar: %q", plain)
	}
	if narrow := progressLine([]swarm.TorrentView{tv}, 40); len([]rune(narrow)) > len([]rune(bar)) {
		t.Errorf("narrow terminal line longer than the default: %q", narrow)
	}
	meta := tv
	meta.HasInfo = false
	if got := progressLine([]swarm.TorrentView{meta}, 0); !strings.Contains(got, "fetching metadata") {
		t.Errorf("no-metadata line %q", got)
	}
}
