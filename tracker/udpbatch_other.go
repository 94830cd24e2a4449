//go:build !linux

package tracker

import "context"

// readBatches is Linux-only (recvmmsg/sendmmsg); elsewhere the reader handles one packet per
// system call.
func (u *udpFront) readBatches(context.Context) bool { return false }
