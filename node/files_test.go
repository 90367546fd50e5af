package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"eserver/node/api"
)

// waitTransfer reads tn's events until transfer id is in state st.
func (tn *testNode) waitTransfer(id string, st api.TransferState) api.Transfer {
	tn.t.Helper()
	e := tn.waitFor(fmt.Sprintf("transfer %s %s", id, st), func(e api.Event) bool {
		return e.Transfer != nil && e.Transfer.ID == id && e.Transfer.State == st
	})
	return *e.Transfer
}

func randomFile(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// TestFileTransfer: alice offers bob 64 MiB; bob sees the offer, accepts
// it into a folder, and gets the file byte-identical under its name; both
// sides end "done". A declined offer sends nothing; a stranger cannot
// offer; a transfer cancelled half-way leaves no file behind.
func TestFileTransfer(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	src, data := randomFile(t, t.TempDir(), "holiday.mov", 64<<20)
	id, err := alice.SendFile(ctx(t), "bob", src)
	if err != nil {
		t.Fatal(err)
	}
	offer := bob.waitTransfer(id, api.TransferIncoming)

	if offer.Name != "holiday.mov" || offer.Size != int64(len(data)) || offer.Peer != "alice" || offer.Outgoing {
		t.Fatalf("offer %+v", offer)
	}
	dir := t.TempDir()
	if err := bob.AcceptFile(ctx(t), id, dir); err != nil {
		t.Fatal(err)
	}
	// The receiver's progress moves, and says the transfer is active: a
	// front end shows the bar of an active transfer, and the buttons of an
	// offer for an incoming one.
	var moving []api.Transfer
	done := *bob.waitFor("holiday.mov done", func(e api.Event) bool {
		if e.Transfer == nil || e.Transfer.ID != id {
			return false
		}
		if e.Transfer.Bytes > 0 && e.Transfer.State != api.TransferDone {
			moving = append(moving, *e.Transfer)
		}
		return e.Transfer.State == api.TransferDone
	}).Transfer
	if len(moving) == 0 {
		t.Fatal("the receiver saw no progress before the end")
	}
	for _, m := range moving {
		if m.State != api.TransferActive {
			t.Fatalf("receiver's progress at %d of %d bytes says %q, want active", m.Bytes, m.Size, m.State)
		}
	}
	if done.Path != filepath.Join(dir, "holiday.mov") {
		t.Fatalf("received at %q", done.Path)
	}
	got, err := os.ReadFile(done.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes (%v), want the %d sent", len(got), err, len(data))
	}
	alice.waitTransfer(id, api.TransferDone)
	// The sender counted the bytes leaving too.
	if ts, err := alice.Transfers(ctx(t)); err != nil || len(ts) != 1 || ts[0].State != api.TransferDone || ts[0].Bytes != int64(len(data)) {
		t.Fatalf("alice's transfers: %+v, %v", ts, err)
	}
	if err := bob.AcceptFile(ctx(t), id, dir); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("accepting a finished transfer: %v", err)
	}

	// Declined: nothing arrives.
	src2, _ := randomFile(t, t.TempDir(), "unwanted.bin", 1<<20)
	id2, err := alice.SendFile(ctx(t), "bob", src2)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitTransfer(id2, api.TransferIncoming)
	if err := bob.DeclineFile(ctx(t), id2); err != nil {
		t.Fatal(err)
	}
	alice.waitTransfer(id2, api.TransferDeclined)

	// Cancelled by the sender half-way: no partial file stays.
	src3, _ := randomFile(t, t.TempDir(), "big.iso", 128<<20)
	id3, err := alice.SendFile(ctx(t), "bob", src3)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitTransfer(id3, api.TransferIncoming)
	dir3 := t.TempDir()
	if err := bob.AcceptFile(ctx(t), id3, dir3); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("progress", func(e api.Event) bool { return e.Transfer != nil && e.Transfer.ID == id3 && e.Transfer.Bytes > 0 })
	if err := alice.CancelTransfer(ctx(t), id3); err != nil {
		t.Fatal(err)
	}
	bob.waitTransfer(id3, api.TransferCancelled)
	waitUntil(t, "no file left in the folder", func() bool {
		left, _ := os.ReadDir(dir3)
		return len(left) == 0
	})

	// A stranger cannot offer a file.
	carol := newTestNode(t, server, "carol")
	carol.register()
	carol.login()
	if _, err := carol.SendFile(ctx(t), "bob", src2); !errors.Is(err, api.ErrNotContact) {
		t.Fatalf("a stranger's offer: %v", err)
	}
}

// TestFileTransferSurvivesRestart: bob's node stops half-way through a
// 64 MiB file; when he signs in again the transfer resumes by itself and
// completes, byte-identical.
func TestFileTransferSurvivesRestart(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)
	src, data := randomFile(t, t.TempDir(), "restart.bin", 64<<20)
	id, err := alice.SendFile(ctx(t), "bob", src)
	if err != nil {
		t.Fatal(err)
	}
	bob.waitTransfer(id, api.TransferIncoming)
	dir := t.TempDir()
	if err := bob.AcceptFile(ctx(t), id, dir); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("progress", func(e api.Event) bool { return e.Transfer != nil && e.Transfer.ID == id && e.Transfer.Bytes > 0 })
	bob.stop()
	bob.open()
	bob.login()
	done := bob.waitTransfer(id, api.TransferDone)
	got, err := os.ReadFile(done.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes (%v), want the %d sent", len(got), err, len(data))
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Fatalf("the folder holds %d entries, want only the file", len(left))
	}
}
