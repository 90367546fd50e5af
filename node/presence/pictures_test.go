package presence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/wire"
)

// pngOf returns a small PNG of one colour, different for every n.
func pngOf(t *testing.T, n int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(n >> (8 * (i % 3)))
	}
	img.Pix[3] = 255
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cachedPictures lists the pictures in the cache directory, ours and the
// contacts' (not the fetches in flight).
func cachedPictures(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, d := range []string{dir, ownDir(dir)} {
		es, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Type().IsRegular() {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out
}

// advertise delivers username's presence with the picture data (nil: none)
// and, when data is set, its arrival as the fetch would hand it over.
func advertise(t *testing.T, h *host, p *Presence, username string, data []byte, arrive bool) string {
	t.Helper()
	c, err := h.st.Contact(username)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if data != nil {
		sum := sha256.Sum256(data)
		raw = sum[:]
	}
	if err := p.receive(presenceFrom(c, &wire.Presence{Status: "online", Nick: username, Avatar: raw})); err != nil {
		t.Fatal(err)
	}
	hx := hex.EncodeToString(raw)
	if data != nil && arrive {
		arrived(t, p, username, hx, data)
	}
	return hx
}

// arrived hands the capability a fetched picture, as node/files does.
func arrived(t *testing.T, p *Presence, username, hx string, data []byte) error {
	t.Helper()
	dir := filepath.Join(p.dir, "incoming")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, PictureFile(hx))
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p.AvatarArrived(store.Transfer{Peer: username, Name: PictureFile(hx), Kind: store.KindAvatar}, f)
}

// TestPictureCachePerContact (issue 13, item 11) is the attack: a contact
// cycles through many display pictures, each a new hash we fetch. The cache
// keeps one picture per contact — the one it advertises now — plus our
// own; a picture two contacts share stays while either shows it, and a
// picture that arrives after its contact moved on is not kept.
func TestPictureCachePerContact(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	p := New(h, dir)
	p.Load(api.StatusOnline)
	for _, u := range []string{"bob", "carol"} {
		if err := h.st.PutContact(store.Contact{Username: u, Relation: string(api.RelationAccepted)}); err != nil {
			t.Fatal(err)
		}
	}
	// Our own picture.
	src := filepath.Join(t.TempDir(), "me.png")
	if err := os.WriteFile(src, pngOf(t, 1_000_000), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPicture(src, api.Crop{}); err != nil {
		t.Fatal(err)
	}
	mine := p.Mine().Avatar

	shared := pngOf(t, 7)
	carols := advertise(t, h, p, "carol", shared, true)
	var bobs string
	for n := range 50 {
		data := pngOf(t, 100+n)
		if n == 10 {
			data = shared // for a while bob shows carol's picture
		}
		bobs = advertise(t, h, p, "bob", data, true)
	}
	want := []string{PictureFile(mine), PictureFile(bobs), PictureFile(carols)}
	slices.Sort(want)
	if got := cachedPictures(t, dir); !slices.Equal(got, want) {
		t.Fatalf("cache holds %d pictures, want ours, bob's and carol's: %q", len(got), want)
	}
	if p.picturePath(carols) == "" {
		t.Fatal("carol's picture went when bob stopped showing it")
	}

	// A fetch that completes after bob moved on is not cached.
	late := pngOf(t, 999)
	stale := hex.EncodeToString(sha(late))
	advertise(t, h, p, "bob", late, false)
	next := advertise(t, h, p, "bob", pngOf(t, 1000), true)
	if err := arrived(t, p, "bob", stale, late); err == nil {
		t.Fatal("a picture bob no longer shows was taken")
	}
	if p.picturePath(stale) != "" || p.picturePath(next) == "" || p.picturePath(bobs) != "" {
		t.Fatalf("cache after bob's late picture: %q", cachedPictures(t, dir))
	}
	// Bob going back to no picture leaves nothing of his.
	advertise(t, h, p, "bob", nil, false)
	want = []string{PictureFile(mine), PictureFile(carols)}
	slices.Sort(want)
	if got := cachedPictures(t, dir); !slices.Equal(got, want) {
		t.Fatalf("cache holds %q after bob cleared his picture, want %q", got, want)
	}
	// Our own picture is kept even when a contact showed it and moved on.
	own, err := os.ReadFile(p.picturePath(mine))
	if err != nil {
		t.Fatal(err)
	}
	advertise(t, h, p, "carol", own, false)
	advertise(t, h, p, "carol", nil, false)
	if p.picturePath(mine) == "" {
		t.Fatal("our own picture was removed")
	}
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// TestNewPictureOfferedAtOnce: a contact asking for the picture we have
// just changed to gets it at once, though we answered it for the last one
// moments ago; asking again for the same picture is still held back.
// (Answers were limited per contact: a contact who had fetched our old
// picture saw the default one instead of the new for half a minute, or
// until our presence happened to be sent again.)
func TestNewPictureOfferedAtOnce(t *testing.T) {
	h := newHost(t)
	p := New(h, t.TempDir())
	p.Load(api.StatusOnline)
	if err := h.st.PutContact(store.Contact{Username: "bob", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	bob, err := h.st.Contact("bob")
	if err != nil {
		t.Fatal(err)
	}
	ask := func() {
		raw, err := hex.DecodeString(p.Mine().Avatar)
		if err != nil {
			t.Fatal(err)
		}
		in := presenceFrom(bob, nil)
		in.Payload = &wire.Payload{Kind: &wire.Payload_AvatarRequest{AvatarRequest: &wire.AvatarRequest{Sha256: raw}}}
		if err := p.receiveAvatarRequest(in); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range []int{1, 2} {
		src := filepath.Join(t.TempDir(), "me.png")
		if err := os.WriteFile(src, pngOf(t, n), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.SetPicture(src, api.Crop{}); err != nil {
			t.Fatal(err)
		}
		h.now = h.now.Add(time.Second)
		ask()
		ask() // bob asking again at once: no second offer
		want := "bob " + p.picturePath(p.Mine().Avatar)
		if len(h.offers) != i+1 || h.offers[i] != want {
			t.Fatalf("after picture %d: offers %q, want the last to be %q", i+1, h.offers, want)
		}
	}
}
