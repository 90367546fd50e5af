//go:build race

package ratchet

// raceEnabled: the race detector makes ML-KEM and Ed25519 some ten times
// slower, so the costliest sweeps sample where they would go through
// everything.
const raceEnabled = true
