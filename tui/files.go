package tui

import (
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"

	"shoal/internal/textsafe"
	"shoal/swarm"
)

// fileNode is a file or folder of a torrent's file tree.
type fileNode struct {
	name     string
	path     string // folder path, or the file's path
	dir      bool
	index    int // file index, for files
	depth    int
	children []*fileNode
	size     int64
	done     int64
	prio     string // skip, normal, high, or mixed (folders)
	files    []int  // every file index at or under this node
}

// filesTab is the file tree with progress and priorities. The tree is
// built once per torrent and refreshed in place on every snapshot.
type filesTab struct {
	c        *common
	w, h     int
	ih       string
	nfiles   int
	root     *fileNode
	byIndex  []*fileNode
	expanded map[string]bool
	visible  []*fileNode
	cursor   int
	offset   int
	hasInfo  bool
}

func newFilesTab(c *common) *filesTab { return &filesTab{c: c, expanded: map[string]bool{}} }

func (f *filesTab) SetSize(w, h int) {
	f.w, f.h = w, h
	f.clamp()
}

func (f *filesTab) bodyHeight() int { return max(0, f.h-1) }

func (f *filesTab) setTorrent(t *swarm.TorrentView) {
	f.hasInfo = t.HasInfo
	if t.InfoHash != f.ih || len(t.Files) != f.nfiles {
		f.build(t)
	}
	for i := range t.Files {
		fv := &t.Files[i]
		if fv.Index >= 0 && fv.Index < len(f.byIndex) && f.byIndex[fv.Index] != nil {
			n := f.byIndex[fv.Index]
			n.size, n.done, n.prio = fv.Size, fv.Done, fv.Priority.String()
		}
	}
	if f.root != nil {
		aggregate(f.root)
	}
	f.flatten()
}

func (f *filesTab) build(t *swarm.TorrentView) {
	f.ih, f.nfiles = t.InfoHash, len(t.Files)
	f.root = &fileNode{dir: true, depth: -1}
	f.byIndex = make([]*fileNode, 0, len(t.Files))
	f.expanded = map[string]bool{}
	f.cursor, f.offset = 0, 0
	dirs := map[string]*fileNode{"": f.root}
	maxIndex := 0
	for _, fv := range t.Files {
		maxIndex = max(maxIndex, fv.Index+1)
	}
	f.byIndex = make([]*fileNode, maxIndex)
	for _, fv := range t.Files {
		parts := strings.Split(textsafe.String(fv.Path), "/")
		parent := f.root
		for d := 0; d < len(parts)-1; d++ {
			p := strings.Join(parts[:d+1], "/")
			n, ok := dirs[p]
			if !ok {
				n = &fileNode{name: parts[d], path: p, dir: true, depth: d}
				dirs[p] = n
				parent.children = append(parent.children, n)
			}
			parent = n
		}
		leaf := &fileNode{name: parts[len(parts)-1], path: strings.Join(parts, "/"), index: fv.Index, depth: len(parts) - 1}
		parent.children = append(parent.children, leaf)
		if fv.Index >= 0 {
			f.byIndex[fv.Index] = leaf
		}
	}
	sortTree(f.root)
	// Small trees start open; a torrent of thousands of files starts with
	// its top folders closed.
	open := len(t.Files) <= 200
	for p := range dirs {
		if p != "" && (open || !strings.Contains(p, "/")) {
			f.expanded[p] = open
		}
	}
}

// sortTree puts folders first, then names in order.
func sortTree(n *fileNode) {
	slices.SortStableFunc(n.children, func(a, b *fileNode) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	for _, c := range n.children {
		if c.dir {
			sortTree(c)
		}
	}
}

func aggregate(n *fileNode) {
	if !n.dir {
		n.files = append(n.files[:0], n.index)
		return
	}
	n.size, n.done, n.prio = 0, 0, ""
	n.files = n.files[:0]
	for _, c := range n.children {
		aggregate(c)
		n.size += c.size
		n.done += c.done
		n.files = append(n.files, c.files...)
		switch {
		case n.prio == "":
			n.prio = c.prio
		case n.prio != c.prio:
			n.prio = "mixed"
		}
	}
}

func (f *filesTab) flatten() {
	f.visible = f.visible[:0]
	if f.root == nil {
		return
	}
	var walk func(n *fileNode)
	walk = func(n *fileNode) {
		for _, c := range n.children {
			f.visible = append(f.visible, c)
			if c.dir && f.expanded[c.path] {
				walk(c)
			}
		}
	}
	walk(f.root)
	f.clamp()
}

func (f *filesTab) clamp() {
	f.cursor, f.offset = clamp(f.cursor, f.offset, len(f.visible), f.bodyHeight())
}

func (f *filesTab) move(d int) {
	f.cursor += d
	f.clamp()
}

func (f *filesTab) moveTo(i int) {
	f.cursor = i
	f.clamp()
}

func (f *filesTab) scroll(d int) {
	h := f.bodyHeight()
	f.offset = max(0, min(f.offset+d, len(f.visible)-h))
	if f.cursor < f.offset {
		f.cursor = f.offset
	} else if h > 0 && f.cursor >= f.offset+h {
		f.cursor = f.offset + h - 1
	}
	f.clamp()
}

func (f *filesTab) current() *fileNode {
	if len(f.visible) == 0 {
		return nil
	}
	return f.visible[f.cursor]
}

// toggle opens or closes the folder under the cursor.
func (f *filesTab) toggle() {
	n := f.current()
	if n == nil || !n.dir {
		return
	}
	f.expanded[n.path] = !f.expanded[n.path]
	f.flatten()
}

// rowAt maps a y inside the tab (0 is the header) to a visible row.
func (f *filesTab) rowAt(y int) (int, bool) {
	i := f.offset + y - 1
	if y < 1 || i >= len(f.visible) || y > f.bodyHeight() {
		return 0, false
	}
	return i, true
}

// nextPriority is what the priority keys set on the node under the
// cursor: one step up or down from its priority (normal for a folder of
// mixed priorities), and the files it applies to.
func (f *filesTab) nextPriority(up bool) (files []int, p swarm.Priority, ok bool) {
	n := f.current()
	if n == nil || len(n.files) == 0 {
		return nil, 0, false
	}
	cur := swarm.PriorityNormal
	switch n.prio {
	case "skip":
		cur = swarm.PrioritySkip
	case "high":
		cur = swarm.PriorityHigh
	}
	next := cur - 1
	if up {
		next = cur + 1
	}
	if n.prio == "mixed" {
		next = cur
	}
	next = max(swarm.PrioritySkip, min(swarm.PriorityHigh, next))
	if next == cur && n.prio != "mixed" {
		return nil, 0, false
	}
	return slices.Clone(n.files), next, true
}

func (f *filesTab) View() string {
	if f.w <= 0 || f.h <= 0 {
		return ""
	}
	st := f.c.styles
	if !f.hasInfo || f.root == nil {
		return st.muted.paint(" Waiting for the torrent's metadata from peers…")
	}
	const barW, pctW, sizeW, prioW = 6, 4, 6, 6
	nameW := max(0, f.w-barW-pctW-sizeW-prioW-4)
	lines := []string{st.header.paint(fit("name", nameW) + " " + fit("progress", barW+1+pctW) + " " + fitRight("size", sizeW) + " " + fit("prio", prioW))}
	end := min(len(f.visible), f.offset+f.bodyHeight())
	var b strings.Builder
	for i := f.offset; i < end; i++ {
		n := f.visible[i]
		b.Reset()
		indent := strings.Repeat("  ", n.depth)
		mark := "  "
		if n.dir {
			mark = "▸ "
			if f.expanded[n.path] {
				mark = "▾ "
			}
		}
		name := n.name
		if n.dir {
			name += "/"
		}
		frac := percent(n.done, n.size)
		cur := i == f.cursor
		label := fit(indent+mark+name, nameW)
		if cur {
			b.WriteString(st.selected.paint(label))
		} else {
			b.WriteString(label)
		}
		b.WriteString(" ")
		b.WriteString(st.bar(frac, barW))
		b.WriteString(" " + fitRight(pct(frac), pctW))
		b.WriteString(" " + fitRight(compactSize(n.size), sizeW))
		b.WriteString(" " + st.prio[n.prio].paint(fit(n.prio, prioW)))
		lines = append(lines, b.String())
	}
	return strings.Join(lines, "\n")
}

func (f *filesTab) ShortHelp() []key.Binding {
	k := f.c.keys
	return []key.Binding{k.Back, k.Help, k.NextTab, k.Toggle, k.PriorityUp, k.PriorityDown, k.Quit}
}

func (f *filesTab) FullHelp() [][]key.Binding { return f.c.keys.FullHelp() }
