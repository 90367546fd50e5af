package backup

import "fmt"

// Padding hides a list's exact length from the supernodes that store it.
// The scheme is ISO/IEC 7816-4, as supernode/client.Pad uses for mail: one 0x80
// byte, then zeros. It is repeated here so backup needs no network code.

// padStep is the bucket granularity past the last fixed bucket.
const padStep = 64 << 10

// padBuckets are the fixed padded sizes; past the last one, sizes are
// multiples of padStep (wire.MaxContactsPlain is one, so a list that Seal
// accepts never pads past it).
var padBuckets = [...]int{1 << 10, 4 << 10, 16 << 10, 64 << 10}

// paddedSize is the size pad gives to n bytes.
func paddedSize(n int) int {
	for _, b := range padBuckets {
		if n+1 <= b {
			return b
		}
	}
	return (n + 1 + padStep - 1) / padStep * padStep
}

func pad(b []byte) []byte {
	out := make([]byte, paddedSize(len(b)))
	copy(out, b)
	out[len(b)] = 0x80
	return out
}

func unpad(b []byte) ([]byte, error) {
	i := len(b) - 1
	for i >= 0 && b[i] == 0 {
		i--
	}
	if i < 0 || b[i] != 0x80 {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	return b[:i], nil
}
