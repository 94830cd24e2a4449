//go:build !linux

package utp

func (s *socket) startReader() { go s.readLoop() }
