package client

import "fmt"

// Padding hides an item's exact size from the supernode: senders Pad the
// plaintext MailItem before sealing it, so the sealed size reveals only a
// bucket. The scheme is ISO/IEC 7816-4: one 0x80 byte, then zeros.

// padStep is the bucket granularity past the last fixed bucket.
const padStep = 64 << 10

// padBuckets are the fixed padded sizes; past the last one, sizes are
// multiples of padStep.
var padBuckets = [...]int{256, 1 << 10, 4 << 10, 16 << 10, 64 << 10}

// PaddedSize is the size Pad gives to n bytes: the smallest bucket that holds
// them and the 0x80 marker.
func PaddedSize(n int) int {
	for _, b := range padBuckets {
		if n+1 <= b {
			return b
		}
	}
	return (n + 1 + padStep - 1) / padStep * padStep
}

// Pad returns a new slice holding b, a 0x80 byte and zeros up to the next
// bucket (256 B, 1 KiB, 4 KiB, 16 KiB, 64 KiB, then multiples of 64 KiB).
// b is not modified.
func Pad(b []byte) []byte {
	out := make([]byte, PaddedSize(len(b)))
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

// Unpad returns the content of a padded b, a subslice of b. It fails with
// ErrBadPadding when b does not end with 0x80 followed only by zeros.
func Unpad(b []byte) ([]byte, error) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: no marker in %d bytes", ErrBadPadding, len(b))
	}
	if b[i] != 0x80 {
		return nil, fmt.Errorf("%w: byte %#x before the zeros, want 0x80", ErrBadPadding, b[i])
	}
	return b[:i], nil
}
