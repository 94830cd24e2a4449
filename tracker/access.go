package tracker

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"shoal/tracker/store"
)

// access decides which torrents and passkeys are served. Both lists are swapped atomically on
// reload, so requests never see a half-read file.
type access struct {
	allowFile   string
	passkeyFile string
	allowed     atomic.Pointer[map[store.InfoHash]struct{}] // nil: every torrent allowed
	passkeys    atomic.Pointer[map[string]struct{}]         // nil: no passkeys (public tracker)
}

// maxPasskeyLen bounds a passkey, so a path element cannot be used to probe with huge keys.
const maxPasskeyLen = 64

func newAccess(allowFile, passkeyFile string) (*access, error) {
	a := &access{allowFile: allowFile, passkeyFile: passkeyFile}
	return a, a.reload()
}

// reload re-reads the allow and passkey files. On error the lists in force stay.
func (a *access) reload() error {
	var allowed map[store.InfoHash]struct{}
	var passkeys map[string]struct{}
	if a.allowFile != "" {
		lines, err := readListFile(a.allowFile)
		if err != nil {
			return err
		}
		allowed = make(map[store.InfoHash]struct{}, len(lines))
		for _, l := range lines {
			h, err := store.ParseInfoHash(strings.ToLower(l.text))
			if err != nil {
				return fmt.Errorf("allow file %s line %d: %w", a.allowFile, l.number, err)
			}
			allowed[h] = struct{}{}
		}
	}
	if a.passkeyFile != "" {
		lines, err := readListFile(a.passkeyFile)
		if err != nil {
			return err
		}
		passkeys = make(map[string]struct{}, len(lines))
		for _, l := range lines {
			if len(l.text) > maxPasskeyLen || strings.ContainsAny(l.text, "/?&%") {
				return fmt.Errorf("passkey file %s line %d: passkey %q is longer than %d or has one of / ? & %%", a.passkeyFile, l.number, l.text, maxPasskeyLen)
			}
			passkeys[l.text] = struct{}{}
		}
	}
	if a.allowFile != "" {
		a.allowed.Store(&allowed)
	}
	if a.passkeyFile != "" {
		a.passkeys.Store(&passkeys)
	}
	return nil
}

// check returns a ClientError if the passkey or the torrent is not served.
func (a *access) check(h store.InfoHash, passkey string) error {
	if err := a.checkPasskey(passkey); err != nil {
		return err
	}
	if !a.allows(h) {
		return clientErrorf("torrent %v is not tracked here", h)
	}
	return nil
}

// checkPasskey returns a ClientError unless passkey is acceptable: listed on a private
// tracker, empty on a public one.
func (a *access) checkPasskey(passkey string) error {
	if keys := a.passkeys.Load(); keys != nil {
		if passkey == "" {
			return ClientError("this tracker is private: announce to /<passkey>/announce")
		}
		if _, ok := (*keys)[passkey]; !ok {
			return ClientError("unknown passkey")
		}
	} else if passkey != "" {
		return ClientError("this tracker has no passkeys: announce to /announce")
	}
	return nil
}

// allows reports whether torrent h is served.
func (a *access) allows(h store.InfoHash) bool {
	if allowed := a.allowed.Load(); allowed != nil {
		_, ok := (*allowed)[h]
		return ok
	}
	return true
}

type listLine struct {
	number int
	text   string
}

// readListFile returns the non-blank lines of a file, trimmed, without # comments.
func readListFile(path string) ([]listLine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read list file: %w", err)
	}
	var lines []listLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		if text = strings.TrimSpace(text); text != "" {
			lines = append(lines, listLine{n, text})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read list file %s: %w", path, err)
	}
	return lines, nil
}
