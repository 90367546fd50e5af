//go:build !sqlite_fts5

package sqlite

import (
	"errors"
	"path/filepath"
	"testing"
)

// Without -tags sqlite_fts5, a database that needs FTS5 must fail to open
// loudly rather than run without full-text search.
func TestOpenWithoutFTS5(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{FTS5: true})
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded without FTS5")
	}
	if !errors.Is(err, ErrNoFTS5) {
		t.Fatalf("Open: %v, want ErrNoFTS5", err)
	}
}
