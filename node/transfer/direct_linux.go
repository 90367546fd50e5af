package transfer

import "syscall"

// oDirect is the open flag for writes that bypass the page cache.
const oDirect = syscall.O_DIRECT
