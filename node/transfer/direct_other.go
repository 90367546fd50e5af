//go:build !linux

package transfer

// oDirect is zero where the receiver does not try direct writes.
const oDirect = 0
