//go:build !linux

package swarm

// freeBytes is unknown here: a full disk is retried on a timer only.
func freeBytes(string) (int64, bool) { return 0, false }
