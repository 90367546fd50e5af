//go:build !sqlite_fts5

package store

import (
	"errors"
	"path/filepath"
	"testing"
)

// Without -tags sqlite_fts5, Open must fail loudly rather than run without
// history search.
func TestOpenWithoutFTS5(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "x.db"))
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded without FTS5")
	}
	if !errors.Is(err, ErrNoFTS5) {
		t.Fatalf("Open: %v, want ErrNoFTS5", err)
	}
}
