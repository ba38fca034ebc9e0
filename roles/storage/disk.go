package storage

import "syscall"

// diskSpace reports the free and total bytes of the file system holding dir
// (0, 0 if it cannot be read: capacity is advisory).
func diskSpace(dir string) (free, total uint64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize)
}
