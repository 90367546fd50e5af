//go:build race

package transfer

// raceEnabled shrinks the largest transfers: the race detector slows the
// Go parts of the stack (yamux, TLS records) several times over.
const raceEnabled = true
