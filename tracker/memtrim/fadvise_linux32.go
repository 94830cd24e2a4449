//go:build linux && !(amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || mips64 || mips64le || loong64)

package memtrim

// fadviseDontneed does nothing on 32-bit architectures, whose fadvise system calls split
// 64-bit arguments differently on each; the release then keeps the file's large folios.
func fadviseDontneed(fd uintptr) {}
