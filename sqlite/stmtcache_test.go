package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCache: with or without cached statements, a statement run
// again after the schema changed under it reads the new schema (SQLite
// prepares a cached statement again when its schema changed), and an
// answer never comes from another statement's text.
func TestStatementCache(t *testing.T) {
	for _, size := range []int{0, 1, 16} {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			db := open(t, filepath.Join(t.TempDir(), "db"), Options{StatementCache: size})
			ctx := context.Background()
			if _, err := db.ExecContext(ctx, "CREATE TABLE t (a INTEGER)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO t (a) VALUES (1), (2)"); err != nil {
				t.Fatal(err)
			}
			count := func(q string) int {
				t.Helper()
				var n int
				if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return n
			}
			const all, ones = "SELECT count(*) FROM t", "SELECT count(*) FROM t WHERE a = 1"
			for range 3 {
				if n, m := count(all), count(ones); n != 2 || m != 1 {
					t.Fatalf("counted %d and %d, want 2 and 1", n, m)
				}
			}
			if _, err := db.ExecContext(ctx, "ALTER TABLE t ADD COLUMN b INTEGER NOT NULL DEFAULT 7"); err != nil {
				t.Fatal(err)
			}
			var b int
			if err := db.QueryRowContext(ctx, "SELECT b FROM t WHERE a = 1").Scan(&b); err != nil || b != 7 {
				t.Fatalf("new column: %d, %v", b, err)
			}
			if _, err := db.ExecContext(ctx, "DELETE FROM t WHERE a = 1"); err != nil {
				t.Fatal(err)
			}
			if n, m := count(all), count(ones); n != 1 || m != 0 {
				t.Fatalf("after delete counted %d and %d, want 1 and 0", n, m)
			}
		})
	}
}
