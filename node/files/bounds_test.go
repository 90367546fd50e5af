package files

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"eserver/node/api"
	"eserver/node/picture"
	"eserver/node/store"
	"eserver/node/wire"
)

// thumb returns a small PNG preview that picture.CheckThumbnail accepts.
func thumb(t *testing.T, n int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(n + i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := picture.CheckThumbnail(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// stored sums what the store keeps of peer's offers to us.
func stored(t *testing.T, h *fakeHost, peer string) (rows, pending, thumbs, thumbBytes int, newestThumbs map[string]bool) {
	t.Helper()
	ts, err := h.st.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	newestThumbs = map[string]bool{}
	for _, tr := range ts {
		if tr.Peer != peer || tr.Outgoing {
			continue
		}
		rows++
		if tr.State == string(api.TransferIncoming) {
			pending++
		}
		if tr.Thumbnail != nil {
			thumbs++
			thumbBytes += len(tr.Thumbnail)
			newestThumbs[string(tr.ID)] = true
		}
	}
	return
}

// TestOfferFloodBounded (issue 13, item 11) is the attack: a contact sends
// offer after offer, each with a preview, and withdraws them to send more.
// What its offers may store is bounded per contact: at most
// MaxPendingOffers wait for an answer (the excess is declined at once), at
// most MaxThumbnails previews are kept — the newest — and at most
// MaxFinishedOffers finished offers are remembered. Another contact's
// offers are not touched.
func TestOfferFloodBounded(t *testing.T) {
	f, h, _ := newFiles(t)
	if err := h.st.PutContact(store.Contact{Username: "bob", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	offer := func(from string, n int) *wire.FileOffer {
		o := fileOffer(func(o *wire.FileOffer) { o.Id, o.Thumbnail = newID(), thumb(t, n) })
		if err := f.receiveOffer(from, o); err != nil {
			t.Fatalf("offer %d from %s: %v", n, from, err)
		}
		return o
	}
	bobs := offer("bob", 0)

	var ids [][]byte
	for n := range MaxPendingOffers + 30 {
		ids = append(ids, offer("alice", n).Id)
	}
	rows, pending, thumbs, thumbBytes, kept := stored(t, h, "alice")
	if pending != MaxPendingOffers || rows != MaxPendingOffers {
		t.Fatalf("%d offers waiting (%d stored), want %d", pending, rows, MaxPendingOffers)
	}
	if thumbs > MaxThumbnails || thumbBytes > MaxThumbnails*picture.MaxThumb {
		t.Fatalf("%d previews (%d bytes) kept, want at most %d", thumbs, thumbBytes, MaxThumbnails)
	}
	// The previews kept are the newest stored offers'.
	for _, id := range ids[MaxPendingOffers-thumbs : MaxPendingOffers] {
		if !kept[string(id)] {
			t.Fatalf("the preview of a recent offer was dropped, an older one kept")
		}
	}
	declined := 0
	for _, p := range h.sent {
		if u := p.GetFileUpdate(); u != nil && u.State == string(api.TransferDeclined) {
			declined++
		}
	}
	if declined != 30 {
		t.Fatalf("%d excess offers declined, want 30", declined)
	}

	// Withdrawing and offering again, many times over.
	for n := range 3 * MaxFinishedOffers {
		if n < MaxPendingOffers { // the stored ones; the rest were declined
			cancel := &wire.FileUpdate{Id: ids[n], State: string(api.TransferCancelled)}
			if err := f.receiveUpdate("alice", cancel); err != nil {
				t.Fatal(err)
			}
		}
		o := offer("alice", 1000+n)
		cancel := &wire.FileUpdate{Id: o.Id, State: string(api.TransferCancelled)}
		if err := f.receiveUpdate("alice", cancel); err != nil {
			t.Fatal(err)
		}
	}
	rows, _, thumbs, _, _ = stored(t, h, "alice")
	if rows > MaxPendingOffers+MaxFinishedOffers || thumbs > MaxThumbnails {
		t.Fatalf("%d offers and %d previews stored after the flood, want at most %d and %d",
			rows, thumbs, MaxPendingOffers+MaxFinishedOffers, MaxThumbnails)
	}
	// Bob's offer and its preview are untouched.
	if got, err := h.st.Transfer(bobs.Id); err != nil || got.Thumbnail == nil || got.State != string(api.TransferIncoming) {
		t.Fatalf("bob's offer after alice's flood: %+v, %v", got, err)
	}
}
