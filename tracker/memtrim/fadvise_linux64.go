//go:build linux && (amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || mips64 || mips64le || loong64)

package memtrim

import "syscall"

// fadviseDontneed is posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED): the whole file. (On 64-bit
// architectures the system call takes the offset and length in one register each.)
func fadviseDontneed(fd uintptr) {
	const posixFadvDontneed = 4
	syscall.Syscall6(syscall.SYS_FADVISE64, fd, 0, 0, posixFadvDontneed, 0, 0)
}
