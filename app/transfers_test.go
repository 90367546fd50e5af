package app

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"eserver/node/api"
)

// TestImageOfferPreview: an image's offer shows its preview beside the bar
// before it is accepted; other files show none.
func TestImageOfferPreview(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	var thumb bytes.Buffer
	if err := jpeg.Encode(&thumb, image.NewRGBA(image.Rect(0, 0, 96, 72)), nil); err != nil {
		t.Fatal(err)
	}
	photo := api.Transfer{ID: "t1", Peer: "bob", Name: "cat.jpg", Size: 4 << 20, State: api.TransferIncoming,
		Type: "image/jpeg", Thumbnail: thumb.Bytes()}
	notes := api.Transfer{ID: "t2", Peer: "bob", Name: "notes.txt", Size: 10, State: api.TransferIncoming}
	a.apply(api.Event{Transfer: &photo})
	a.apply(api.Event{Transfer: &notes})
	c := a.chats["bob"]
	r := c.tray.rows["t1"]
	if r == nil || r.preview == nil || !bytes.Equal(r.preview.Resource.Content(), thumb.Bytes()) {
		t.Fatalf("image offer without its preview: %+v", r)
	}
	if r.preview.MinSize().Width < 48 {
		t.Fatalf("preview too small to see: %v", r.preview.MinSize())
	}
	if r := c.tray.rows["t2"]; r == nil || r.preview != nil {
		t.Fatalf("a text file's bar shows a preview: %+v", r)
	}
}
