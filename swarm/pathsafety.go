package swarm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/anacrolix/torrent/metainfo"
)

// checkStoragePaths refuses a torrent whose files, or the folders they go
// in, already exist under dataDir as symlinks (or, for a file, as anything
// but a regular file). The library's file storage opens and creates paths
// following symlinks, so a link planted in the download folder (by another
// user, or left by some other program) would have it write outside the
// folder. Validation (validate.go) already keeps every path under dataDir
// by name; this keeps it there on disk. dataDir itself may be a symlink:
// the user chose it. Checked when storage opens, before anything is
// written.
func checkStoragePaths(dataDir string, info *metainfo.Info) error {
	checked := map[string]bool{}
	for fi := range info.UpvertedFilesIter() {
		parts := torrentFilePath(info, &fi)
		p := dataDir
		for i, c := range parts {
			p = filepath.Join(p, c)
			last := i == len(parts)-1
			if checked[p] && !last {
				continue
			}
			checked[p] = true
			names := []string{p}
			if last {
				names = append(names, p+".part") // where storage writes it while incomplete
			}
			exists := false
			for _, name := range names {
				st, err := os.Lstat(name)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return fmt.Errorf("check %s: %w", name, err)
				}
				exists = true
				switch {
				case st.Mode()&fs.ModeSymlink != 0:
					return fmt.Errorf("refusing to write through symlink %s (it could point outside %s); remove it or choose another folder", quote(name), dataDir)
				case last && !st.Mode().IsRegular():
					return fmt.Errorf("refusing to write to %s: it exists and is not a regular file", quote(name))
				case !last && !st.IsDir():
					return fmt.Errorf("refusing to write under %s: it exists and is not a folder", quote(name))
				}
			}
			if !exists {
				break // nothing deeper can exist
			}
		}
	}
	return nil
}
