//go:build race

package attack

// Race reports whether the binary was built with the race detector.
const Race = true
