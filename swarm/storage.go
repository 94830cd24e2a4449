package swarm

import (
	"github.com/anacrolix/torrent/storage"
)

// newStorage is the storage for torrents whose files live under dataDir;
// it records completion in the engine's shared database.
func (e *Engine) newStorage(dataDir string) storage.ClientImplCloser {
	return storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dataDir,
		PieceCompletion: e.completion,
		// Plain reads, not mmap: a seeded file that someone truncates
		// must give an error, not SIGBUS the whole process.
		DisableMmap: true,
		Logger:      e.log,
	})
}
