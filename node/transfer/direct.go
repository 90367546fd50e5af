package transfer

import "unsafe"

// Direct writes. The receiver writes every whole chunk through a second
// descriptor of the part file opened with O_DIRECT, so the data goes from
// its buffer to the disk without a copy into the page cache. Measured on
// the reference machine (a VM on ext4), 1 GiB in 256 KiB writes: buffered
// 0.3–2.0 s of system time (it varies run to run with the state of the
// page cache) plus 0.35–0.4 s of fsync at the end; direct 0.16–0.36 s and
// an fsync of under a millisecond. The copy was the receiver's largest
// cost, larger than its decryption and hashing together. Receiving a film
// also no longer evicts the user's cached files.
//
// Direct I/O needs the buffer's address, the file offset and the length
// aligned to the device's logical block size; directAlign covers every
// common one. A chunk size that is not a multiple of it, the last chunk
// (usually shorter), and file systems that refuse O_DIRECT (at open or at
// the first write) fall back to ordinary writes. fsync of the buffered
// descriptor covers both, as it syncs the file, not the descriptor.

// directAlign is the alignment direct writes keep.
const directAlign = 4096

// AlignedBuf returns a buffer of n bytes aligned for direct I/O, as the
// receiver's chunk buffers are (xferbench's direct-write baseline uses it
// to write exactly as the receiver does).
func AlignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (directAlign - 1))
	return b[skip : skip+n : skip+n]
}

// directOK reports whether p may be written directly at off.
func directOK(p []byte, off int64) bool {
	return len(p) > 0 && len(p)%directAlign == 0 && off%directAlign == 0 &&
		uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign == 0
}
