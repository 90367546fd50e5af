// Package storetest opens throw-away account stores for the tests of the
// node's components.
package storetest

import (
	"bytes"
	"path/filepath"
	"testing"

	"eserver/node/store"
)

// Open returns a fresh store in a temporary directory, unlocked (its
// sealed tables usable) and closed when tb ends.
func Open(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "eserver.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.Unlock(bytes.Repeat([]byte{7}, store.StorageKeySize)); err != nil {
		tb.Fatal(err)
	}
	return st
}
