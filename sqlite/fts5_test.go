//go:build sqlite_fts5

package sqlite

import (
	"path/filepath"
	"testing"
)

func TestOpenWithFTS5(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "x.db"), Options{FTS5: true})
	if _, err := db.Exec(`CREATE VIRTUAL TABLE t USING fts5(x)`); err != nil {
		t.Fatal(err)
	}
}
