// Package tui is shoal's terminal UI: a bubbletea program over the swarm
// engine's snapshots.
package tui

import (
	_ "charm.land/bubbles/v2/key"
	_ "charm.land/bubbletea/v2"
	_ "charm.land/lipgloss/v2"
	_ "github.com/charmbracelet/x/exp/teatest/v2"
)
