package store

import (
	"bytes"
	"errors"
	"slices"
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
		Key: fileKey, SHA256: bytes.Repeat([]byte{9}, 32), Path: "/home/alice/Downloads", State: "offered", Created: time.Now()}
	if err := s.PutTransfer(tr); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTransfer(Transfer{ID: []byte{1}}); err == nil {
		t.Fatal("an incomplete transfer was stored")
	}
	got, err := s.Transfer(id)
	if err != nil || !bytes.Equal(got.Key, fileKey) || got.Name != tr.Name || got.Size != tr.Size || got.State != "offered" {
		t.Fatalf("transfer %+v, %v", got, err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM transfers WHERE instr(file_key, ?) > 0`, []byte("file key")).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the file key is stored in the clear (%d, %v)", n, err)
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
	if err := s.ForgetChunks(id); err != nil {
		t.Fatal(err)
	}
	if done, _ := s.ChunksDone(id); len(done) != 0 {
		t.Fatalf("chunks after forgetting: %v", done)
	}
}
