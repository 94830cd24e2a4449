//go:build !linux

package memtrim

func releaseExecutable() (ReleaseStats, error) { return ReleaseStats{}, nil }
