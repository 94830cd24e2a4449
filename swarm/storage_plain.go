//go:build shoal_plainstorage

package swarm

// A benchmark build: the library's file storage without hashingStorage.
func init() { plainFileStorage = true }
