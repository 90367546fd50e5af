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
	if err != nil || !bytes.Equal(got.Key, fileKey) || got.Name != tr.Name || got.Size != tr.Size || got.State != "offered" ||
		got.Kind != KindFile || got.Thumbnail != nil {
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

// TestTransferKinds: a display picture's transfer keeps its kind, a file's
// its preview; an unknown kind is refused by the schema.
func TestTransferKinds(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Unlock(bytes.Repeat([]byte{3}, StorageKeySize)); err != nil {
		t.Fatal(err)
	}
	tr := Transfer{Peer: "bob", Name: "holiday.jpg", Size: 5 << 20, ChunkSize: 256 << 10,
		Key: bytes.Repeat([]byte{8}, 32), SHA256: bytes.Repeat([]byte{9}, 32), State: "offered", Created: time.Now()}
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
