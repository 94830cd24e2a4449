package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"shoal/swarm"
)

func newTestModel(s *swarm.Snapshot, w, h int) (*Model, *fakeEngine) {
	eng := newFakeEngine(s)
	m := New(eng, Options{Now: fixedNow, Home: "/home/ada"})
	m.tick = func(time.Duration, func(time.Time) tea.Msg) tea.Cmd { return nil }
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	if s != nil {
		m.Update(snapshotMsg{snap: s})
	}
	return m, eng
}

// keyPress builds the message a terminal sends for a key as bubbletea
// names it ("a", "G", "ctrl+c", "shift+tab", "space", "pgdown").
func keyPress(s string) tea.KeyPressMsg {
	named := map[string]rune{
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "backspace": tea.KeyBackspace,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "home": tea.KeyHome, "end": tea.KeyEnd,
		"delete": tea.KeyDelete, "space": tea.KeySpace,
	}
	var k tea.Key
	rest := s
	for {
		switch {
		case strings.HasPrefix(rest, "ctrl+") && len(rest) > 5:
			k.Mod |= tea.ModCtrl
			rest = rest[5:]
			continue
		case strings.HasPrefix(rest, "alt+") && len(rest) > 4:
			k.Mod |= tea.ModAlt
			rest = rest[4:]
			continue
		case strings.HasPrefix(rest, "shift+") && len(rest) > 6:
			k.Mod |= tea.ModShift
			rest = rest[6:]
			continue
		}
		break
	}
	if r, ok := named[rest]; ok {
		k.Code = r
		if rest == "space" {
			k.Text = " "
		}
	} else {
		k.Code = []rune(rest)[0]
		if k.Mod == 0 {
			k.Text = rest
		}
	}
	return tea.KeyPressMsg(k)
}

func TestKeyPressHelperNamesKeysLikeBubbletea(t *testing.T) {
	for _, b := range DefaultKeyMap().All() {
		for _, k := range b.Keys() {
			if got := keyPress(k).String(); got != k {
				t.Errorf("keyPress(%q).String() = %q", k, got)
			}
		}
	}
}

// timeout bounds a command in tests; none should block (timers are off,
// and the snapshot waiter only comes from Init).
func timeout() <-chan time.Time { return time.After(10 * time.Second) }
