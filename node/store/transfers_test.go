package store

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTransfers: a transfer round-trips with its key sealed at rest; its
// state moves; its chunk records survive reopening and are forgotten on
// request.
func TestTransfers(t *testing.T) {
	s, path := openTemp(t)
	key := bytes.Repeat([]byte{3}, StorageKeySize)
	if err := s.Unlock(key); err != nil {
		t.Fatal(err)
	}
	id := bytes.Repeat([]byte{1}, 16)
	fileKey := []byte("file key file key file key 32 b.")
	tr := Transfer{ID: id, Peer: "bob", Outgoing: false, Name: "holiday.jpg", Size: 5 << 20, ChunkSize: 256 << 10,
		Key: fileKey, Hash: bytes.Repeat([]byte{9}, 32), Path: "/home/alice/Downloads", State: "offered", Created: time.Now()}
	if err := s.PutTransfer(tr); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTransfer(Transfer{ID: []byte{1}}); err == nil {
		t.Fatal("an incomplete transfer was stored")
	}
	got, err := s.Transfer(id)
	if err != nil || !bytes.Equal(got.Key, fileKey) || got.Name != tr.Name || got.Size != tr.Size || got.State != "offered" ||
		got.Kind != KindFile || got.Thumbnail != nil {
		t.Fatalf("transfer %+v, %v", got, err)
	}
	// Key, name, path and preview are sealed at rest.
	for _, secret := range []string{"file key", "holiday", "alice", "Downloads"} {
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM transfers WHERE instr(file_key, ?) + instr(name, ?) + instr(path, ?) > 0`,
			[]byte(secret), []byte(secret), []byte(secret)).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%q is stored in the clear (%d, %v)", secret, n, err)
		}
	}
	if err := s.SetTransferState(id, "accepted", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTransferState(bytes.Repeat([]byte{2}, 16), "accepted", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("state of an unknown transfer: %v", err)
	}
	if err := s.MarkChunks(id, 3, 0, 1, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkChunks(id, 1<<63); err == nil {
		t.Fatal("an absurd chunk index was recorded")
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Unlock(key); err != nil {
		t.Fatal(err)
	}
	if done, err := s.ChunksDone(id); err != nil || !slices.Equal(done, []uint64{0, 1, 3}) {
		t.Fatalf("chunks after reopening: %v, %v", done, err)
	}
	if all, err := s.Transfers(); err != nil || len(all) != 1 || all[0].State != "accepted" || all[0].Path != tr.Path {
		t.Fatalf("transfers %+v, %v", all, err)
	}
	// A new path is sealed too.
	final := "/home/alice/Downloads/holiday (2).jpg"
	if err := s.SetTransferState(id, "done", final); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Transfer(id); err != nil || got.Path != final || got.State != "done" || got.Name != tr.Name {
		t.Fatalf("after the final path: %+v, %v", got, err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM transfers WHERE instr(path, ?) > 0`, []byte("holiday")).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the final path is stored in the clear (%d, %v)", n, err)
	}
	if err := s.ForgetChunks(id); err != nil {
		t.Fatal(err)
	}
	if done, _ := s.ChunksDone(id); len(done) != 0 {
		t.Fatalf("chunks after forgetting: %v", done)
	}
}

// TestTransferKinds: a display picture's transfer keeps its kind, a file's
// its preview; an unknown kind is refused by the schema.
func TestTransferKinds(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Unlock(bytes.Repeat([]byte{3}, StorageKeySize)); err != nil {
		t.Fatal(err)
	}
	tr := Transfer{Peer: "bob", Name: "holiday.jpg", Size: 5 << 20, ChunkSize: 256 << 10,
		Key: bytes.Repeat([]byte{8}, 32), Hash: bytes.Repeat([]byte{9}, 32), State: "offered", Created: time.Now()}
	pic := tr
	pic.ID, pic.Kind = bytes.Repeat([]byte{4}, 16), KindAvatar
	withThumb := tr
	withThumb.ID, withThumb.Thumbnail, withThumb.Kind = bytes.Repeat([]byte{5}, 16), []byte("jpeg bytes"), KindFile
	for _, x := range []Transfer{pic, withThumb} {
		if err := s.PutTransfer(x); err != nil {
			t.Fatal(err)
		}
		back, err := s.Transfer(x.ID)
		if err != nil || back.Kind != x.Kind || !bytes.Equal(back.Thumbnail, x.Thumbnail) {
			t.Fatalf("transfer %x: kind %q thumbnail %q (%v)", x.ID, back.Kind, back.Thumbnail, err)
		}
	}
	bad := tr
	bad.ID, bad.Kind = bytes.Repeat([]byte{6}, 16), "spaceship"
	if err := s.PutTransfer(bad); err == nil {
		t.Fatal("a transfer of an unknown kind was stored")
	}
}

// TestMigrateTransferHash: migration 011 renames transfers.sha256 to hash,
// with SQLite rewriting the column's CHECK so a hash of the wrong length is
// still refused, and marks the transfers that were not over failed: their
// SHA-256 would fail the BLAKE3 whole-file check after the last byte.
func TestMigrateTransferHash(t *testing.T) {
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	before := slices.IndexFunc(all, func(m migration) bool { return m.name == "011_transfer_hash.sql" })
	if before < 0 {
		t.Fatal("no migration 011_transfer_hash.sql")
	}
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite3", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := setup(db, all, before); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // state before → after
		"offered":   "failed",
		"incoming":  "failed",
		"active":    "failed",
		"paused":    "failed",
		"done":      "done",
		"declined":  "declined",
		"cancelled": "cancelled",
		"failed":    "failed",
	}
	sum := bytes.Repeat([]byte{7}, 32)
	ids := map[string][]byte{}
	i := byte(0)
	for state := range want {
		for _, kind := range []string{KindFile, KindAvatar} {
			for _, outgoing := range []bool{false, true} {
				i++
				id := bytes.Repeat([]byte{i}, 16)
				ids[fmt.Sprintf("%s/%s/%v", state, kind, outgoing)] = id
				if _, err := db.Exec(`INSERT INTO transfers (id, peer, outgoing, name, size, chunk_size, file_key, sha256, path, state, created, kind)
					VALUES (?, 'bob', ?, 'a.bin', 1, 65536, x'00', ?, '/tmp', ?, 1, ?)`, id, outgoing, sum, state, kind); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := db.Exec(`INSERT INTO transfer_chunks (transfer_id, idx) VALUES (?, 0)`, ids["active/file/false"]); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for k, id := range ids {
		var state string
		var hash []byte
		if err := s.db.QueryRow(`SELECT state, hash FROM transfers WHERE id = ?`, id).Scan(&state, &hash); err != nil {
			t.Fatal(err)
		}
		if from := strings.SplitN(k, "/", 2)[0]; state != want[from] || !bytes.Equal(hash, sum) {
			t.Errorf("%s: state %q hash %x after the migration, want %q and the old value", k, state, hash, want[from])
		}
	}
	if done, err := s.ChunksDone(ids["active/file/false"]); err != nil || len(done) != 1 {
		t.Fatalf("chunk records of a failed transfer: %v, %v (kept until it is cancelled)", done, err)
	}
	var schema string
	if err := s.db.QueryRow(`SELECT sql FROM sqlite_schema WHERE name = 'transfers'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(schema, "sha256") || !strings.Contains(schema, "length(hash) = 32") {
		t.Fatalf("transfers schema after the migration:\n%s", schema)
	}
	// The CHECK still guards the renamed column (PutTransfer checks the
	// length before SQLite sees it, so ask SQLite directly).
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := s.db.Exec(`INSERT INTO transfers (id, peer, outgoing, name, size, chunk_size, file_key, hash, path, state, created)
			VALUES (?, 'bob', 0, 'b.bin', 1, 65536, x'00', ?, '', 'incoming', 1)`, bytes.Repeat([]byte{0xee}, 16), make([]byte, n)); err == nil {
			t.Fatalf("a %d-byte hash was stored", n)
		}
	}
	if _, err := s.db.Exec(`INSERT INTO transfers (id, peer, outgoing, name, size, chunk_size, file_key, hash, path, state, created)
		VALUES (?, 'bob', 0, 'b.bin', 1, 65536, x'00', ?, '', 'incoming', 1)`, bytes.Repeat([]byte{0xee}, 16), make([]byte, 32)); err != nil {
		t.Fatalf("a 32-byte hash was refused: %v", err)
	}
}
