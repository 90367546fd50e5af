package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"eserver/node/store"
	"eserver/node/transfer"
)

// TestChunkMapInStore: a transfer paused half-way and resumed with the
// chunk records kept in the account's SQLite store (reopened in between,
// as after a restart) arrives whole, and the records go when it is done.
func TestChunkMapInStore(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.bin")
	data := make([]byte, 6<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	rh, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	rh.Peerstore().AddAddrs(sh.ID(), sh.Addrs(), peerstore.PermanentAddrTTL)
	sender := transfer.NewSender(sh)
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	o, err := transfer.NewOffer(src, transfer.MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.Add(transfer.Share{Offer: o, Path: src, Peer: rh.ID()}); err != nil {
		t.Fatal(err)
	}

	dbPath := filepath.Join(dir, "account.db")
	open := func() *store.Store {
		st, err := store.Open(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Unlock(bytes.Repeat([]byte{7}, store.StorageKeySize)); err != nil {
			t.Fatal(err)
		}
		return st
	}
	out := filepath.Join(dir, "downloads")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	st := open()
	ctx, cancel := context.WithCancel(context.Background())
	// Pause as soon as the first batch of chunks is recorded.
	r := &transfer.Receiver{Host: rh, Chunks: pauseAfterMark{chunkMap{st}, cancel}, SyncBytes: 8 * transfer.MinChunkSize}
	req := transfer.Request{Peer: sh.ID(), Offer: o, Dir: out}
	if _, err := r.Receive(ctx, req); !errors.Is(err, context.Canceled) {
		t.Fatalf("paused receive: %v", err)
	}
	r.Close()
	cancel()
	had, err := st.ChunksDone(o.ID[:])
	if err != nil || len(had) == 0 || uint64(len(had)) >= o.Chunks() {
		t.Fatalf("%d of %d chunks recorded after the pause (%v)", len(had), o.Chunks(), err)
	}
	st.Close()

	st = open() // as after a restart
	defer st.Close()
	r = &transfer.Receiver{Host: rh, Chunks: chunkMap{st}}
	defer r.Close()
	got, err := r.Receive(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(got)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("received %d bytes (%v), want the %d sent", len(b), err, len(data))
	}
	if done, _ := st.ChunksDone(o.ID[:]); len(done) != 0 {
		t.Fatalf("%d chunk records left after the transfer finished", len(done))
	}
}

// pauseAfterMark cancels the receive once chunks were recorded.
type pauseAfterMark struct {
	chunkMap
	cancel context.CancelFunc
}

func (p pauseAfterMark) MarkDone(id transfer.ID, indexes ...uint64) error {
	err := p.chunkMap.MarkDone(id, indexes...)
	p.cancel()
	return err
}
