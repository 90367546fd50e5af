package transfer

import "syscall"

// adviseSequential asks for aggressive read-ahead on a mapping read in
// order, as chunks are. Advice only: an error changes nothing.
func adviseSequential(data []byte) { syscall.Madvise(data, syscall.MADV_SEQUENTIAL) }
