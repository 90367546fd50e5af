package rooms

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/room"
	"eserver/node/store"
	"eserver/node/wire"
)

// tinyPNG is a valid display picture of side w pixels.
func tinyPNG(t testing.TB, w int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewNRGBA(image.Rect(0, 0, w, w))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// said is a message by author in keyRoom with a nick and picture hash h.
func said(w *keyWorld, author, h string) *room.Message {
	raw, _ := hex.DecodeString(h)
	return &room.Message{Room: keyRoom, ID: wire.NewID(), Author: author, Time: w.now, Text: "hi", Nick: author + " \u202e!", Avatar: raw}
}

// asks are the picture requests in q, as "to/hash".
func asks(q []queued) []string {
	var out []string
	for _, e := range q {
		if p := e.p.GetRoomPicture(); p != nil && len(p.Png) == 0 {
			out = append(out, e.to+"/"+hex.EncodeToString(p.Sha256))
		}
	}
	return out
}

// TestPictureAsks: a member asks strangers for their pictures at most
// wire.RoomPictureFetches at once, one author and picture once per
// wire.RoomPictureRetry, and never for a picture it holds or one of a
// contact (whose presence brings it), nor for a sealed message's author.
func TestPictureAsks(t *testing.T) {
	w := newKeyWorld(t, "alice", "bob")
	bob, host := w.rooms["bob"], w.hosts["bob"]
	bob.faces = newFaces(t.TempDir())
	var authors []string
	for i := range wire.RoomPictureFetches + 2 {
		authors = append(authors, fmt.Sprintf("user%d", i))
	}
	h := hashOf([]byte("a picture"))
	for _, a := range authors {
		bob.note(said(w, a, h))
	}
	if got := asks(host.sent()); len(got) != wire.RoomPictureFetches {
		t.Fatalf("asked %q, want %d asks", got, wire.RoomPictureFetches)
	}
	for _, a := range authors { // the same messages again: nothing more
		bob.note(said(w, a, h))
	}
	if got := asks(host.sent()); len(got) != 0 {
		t.Fatalf("asked again at once: %q", got)
	}
	// Unanswered asks stop counting after RoomPictureWait: the authors not
	// asked yet are asked, the ones asked are not before RoomPictureRetry.
	host.now = host.now.Add(wire.RoomPictureWait)
	for _, a := range authors {
		bob.note(said(w, a, h))
	}
	if got := asks(host.sent()); len(got) != 2 || got[0] != authors[wire.RoomPictureFetches]+"/"+h {
		t.Fatalf("after the wait asked %q, want the 2 not asked yet", got)
	}
	host.now = host.now.Add(wire.RoomPictureRetry)
	bob.note(said(w, authors[0], h))
	if got := asks(host.sent()); len(got) != 1 {
		t.Fatalf("after the retry interval asked %q, want 1", got)
	}

	// A picture we hold is not asked for; a sealed message has no face;
	// our own messages neither.
	host.now = host.now.Add(wire.RoomPictureWait + wire.RoomPictureRetry)
	held := tinyPNG(t, 4)
	if _, err := bob.faces.store(hashOf(held), held); err != nil {
		t.Fatal(err)
	}
	bob.note(said(w, "user1", hashOf(held)))
	sealed := said(w, "user2", h)
	sealed.Sealed = &wire.RoomSealed{}
	bob.note(sealed)
	bob.note(said(w, "bob", hashOf([]byte("mine"))))
	// A contact's picture comes with its presence.
	if err := host.st.PutContact(store.Contact{Username: "user3", Relation: string(api.RelationAccepted)}); err != nil {
		t.Fatal(err)
	}
	bob.note(said(w, "user3", hashOf([]byte("a contact's"))))
	if got := asks(host.sent()); len(got) != 0 {
		t.Fatalf("asked %q", got)
	}
	if nick, path := bob.faceOf(keyRoom, "user1"); nick != "user1 !" || path != filepath.Join(bob.faces.dir, pictureFile(hashOf(held))) {
		t.Fatalf("user1's face: %q %q", nick, path)
	}
}

// TestPictureTaken: an answer is taken only from the author asked, for
// the picture asked, when its bytes hash to that name and make a small
// PNG; it is cached and shown to the front ends where the author's
// messages are. Anything else is dropped without a refusal.
func TestPictureTaken(t *testing.T) {
	w := newKeyWorld(t, "alice", "bob", "mallory")
	bob, host := w.rooms["bob"], w.hosts["bob"]
	bob.faces = newFaces(t.TempDir())
	good := tinyPNG(t, 8)
	notPNG := []byte("not a picture at all")
	huge := tinyPNG(t, 600)                            // past picture.MaxAvatarSide
	for _, pic := range [][]byte{notPNG, huge, good} { // the good one last: the cache is empty until then
		bob.note(said(w, "alice", hashOf(pic)))
		host.sent()
		give := func(from string, h string, b []byte) {
			t.Helper()
			raw, _ := hex.DecodeString(h)
			in := &payload.Inbound{Ticket: w.tks[from], Payload: &wire.Payload{Kind: &wire.Payload_RoomPicture{RoomPicture: &wire.RoomPicture{Sha256: raw, Png: b}}}}
			if err := bob.receivePicture(in); err != nil {
				t.Fatalf("a well-formed picture refused: %v", err)
			}
		}
		give("mallory", hashOf(pic), pic)            // not asked of mallory
		give("alice", hashOf(pic), append(pic, 0))   // not the bytes named
		give("alice", hashOf([]byte("other")), good) // not the picture asked
		if files, _ := os.ReadDir(bob.faces.dir); len(files) != 0 {
			t.Fatalf("cached %d files from answers not taken", len(files))
		}
		give("alice", hashOf(pic), pic)
		files, _ := os.ReadDir(bob.faces.dir)
		if !bytes.Equal(pic, good) {
			if len(files) != 0 {
				t.Fatalf("cached a picture that is not a small PNG")
			}
			bob.faces.asking = map[string]ask{} // alice's next picture may be asked for
			continue
		}
		if len(files) != 1 || files[0].Name() != pictureFile(hashOf(good)) {
			t.Fatalf("cache holds %v", files)
		}
	}
	var got []api.RoomEvent
	for _, e := range host.events {
		if e.RoomEvent != nil && e.RoomEvent.Kind == api.RoomPicture {
			got = append(got, *e.RoomEvent)
		}
	}
	want := filepath.Join(bob.faces.dir, pictureFile(hashOf(good)))
	if len(got) != 1 || got[0].Username != "alice" || got[0].Room != keyRoom || got[0].AvatarPath != want {
		t.Fatalf("picture events %+v", got)
	}
	// Malformed payloads are refused as bad requests.
	for _, p := range []*wire.RoomPicture{{}, {Sha256: make([]byte, 31)}, {Sha256: make([]byte, 32), Png: make([]byte, wire.MaxRoomPicture+1)}} {
		err := bob.receivePicture(&payload.Inbound{Ticket: w.tks["alice"], Payload: &wire.Payload{Kind: &wire.Payload_RoomPicture{RoomPicture: p}}})
		if !errors.Is(err, payload.ErrBadRequest) {
			t.Fatalf("%d-byte hash, %d-byte picture: %v", len(p.Sha256), len(p.Png), err)
		}
	}
}

// TestPictureAnswers: a member sends its picture only when asked for the
// one it advertises, once per requester every wire.RoomPictureRetry and
// wire.RoomPictureAnswers times in all in that time; a picture too large
// to travel this way is neither advertised nor sent.
func TestPictureAnswers(t *testing.T) {
	w := newKeyWorld(t, "alice")
	alice, host := w.rooms["alice"], w.hosts["alice"]
	pic := tinyPNG(t, 16)
	host.avatar, host.avatarPath = hashOf(pic), filepath.Join(t.TempDir(), "me.png")
	if err := os.WriteFile(host.avatarPath, pic, 0o600); err != nil {
		t.Fatal(err)
	}
	ask := func(from, h string) {
		raw, _ := hex.DecodeString(h)
		tk := *w.tks["alice"]
		tk.Username = from
		in := &payload.Inbound{Ticket: &tk, Payload: &wire.Payload{Kind: &wire.Payload_RoomPicture{RoomPicture: &wire.RoomPicture{Sha256: raw}}}}
		if err := alice.receivePicture(in); err != nil {
			t.Fatal(err)
		}
	}
	answers := func() (n int) {
		for _, e := range host.sent() {
			if p := e.p.GetRoomPicture(); p != nil && len(p.Png) > 0 {
				if !bytes.Equal(p.Png, pic) || hex.EncodeToString(p.Sha256) != host.avatar {
					t.Fatalf("answered with another picture")
				}
				n++
			}
		}
		return n
	}
	ask("bob", host.avatar)
	ask("bob", host.avatar)                    // again at once
	ask("carol", hashOf([]byte("an old one"))) // not the one advertised
	if n := answers(); n != 1 {
		t.Fatalf("%d answers, want 1", n)
	}
	for i := range wire.RoomPictureAnswers + 5 {
		ask(fmt.Sprintf("user%d", i), host.avatar)
	}
	if n := answers(); n != wire.RoomPictureAnswers-1 {
		t.Fatalf("%d answers to many requesters, want %d", n, wire.RoomPictureAnswers-1)
	}
	host.now = host.now.Add(wire.RoomPictureRetry)
	ask("bob", host.avatar)
	if n := answers(); n != 1 {
		t.Fatalf("%d answers after the interval, want 1", n)
	}

	// Stamped on a plain message; not on a sealed one; not when too large.
	m := &wire.RoomMessage{Room: "plain", Id: "1", Author: "alice", TimeUnixMilli: 1, Text: "hi"}
	alice.stamp(m)
	if m.Nick != "alice" || hex.EncodeToString(m.Avatar) != host.avatar {
		t.Fatalf("stamped %q %x", m.Nick, m.Avatar)
	}
	s := &wire.RoomMessage{Room: "plain", Id: "2", Author: "alice", TimeUnixMilli: 1, Sealed: &wire.RoomSealed{}}
	alice.stamp(s)
	if s.Nick != "" || s.Avatar != nil {
		t.Fatalf("a sealed message stamped %q %x", s.Nick, s.Avatar)
	}
	big := make([]byte, wire.MaxRoomPicture+1)
	copy(big, pic)
	if err := os.WriteFile(host.avatarPath, big, 0o600); err != nil {
		t.Fatal(err)
	}
	host.avatar = hashOf(big)
	l := &wire.RoomMessage{Room: "plain", Id: "3", Author: "alice", TimeUnixMilli: 1, Text: "hi"}
	alice.stamp(l)
	host.now = host.now.Add(wire.RoomPictureRetry)
	ask("dave", host.avatar)
	if l.Avatar != nil || answers() != 0 {
		t.Fatalf("a picture of %d bytes advertised or sent", len(big))
	}
}

// TestPictureCacheBound: the strangers' cache keeps the newest
// wire.RoomPicturesCached pictures.
func TestPictureCacheBound(t *testing.T) {
	f := newFaces(t.TempDir())
	var last string
	for i := range wire.RoomPicturesCached + 3 {
		b := []byte(fmt.Sprint("picture ", i))
		p, err := f.store(hashOf(b), b)
		if err != nil {
			t.Fatal(err)
		}
		last = p
	}
	files, _ := os.ReadDir(f.dir)
	if len(files) != wire.RoomPicturesCached {
		t.Fatalf("%d pictures cached, want %d", len(files), wire.RoomPicturesCached)
	}
	if _, err := os.Stat(last); err != nil {
		t.Fatalf("the newest picture went: %v", err)
	}
}

// FuzzRoomPicture feeds arbitrary bytes to DecodePicture: nothing panics,
// refusals wrap ErrBadPicture, what decodes is of its sizes; handed to a
// member that asked alice for one picture, from alice or a stranger, it
// never panics and the cache holds nothing but that picture.
func FuzzRoomPicture(f *testing.F) {
	w := newKeyWorld(f, "alice", "bob", "mallory")
	bob := w.rooms["bob"]
	bob.faces = newFaces(f.TempDir())
	good := tinyPNG(f, 8)
	goodHash, _ := hex.DecodeString(hashOf(good))
	for _, p := range []*wire.RoomPicture{{Sha256: goodHash}, {Sha256: goodHash, Png: good}, {Sha256: goodHash, Png: []byte("x")}} {
		f.Add(wire.MustMarshal(p), false)
		f.Add(wire.MustMarshal(p), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, stranger bool) {
		p, err := DecodePicture(b)
		if err != nil {
			if !errors.Is(err, ErrBadPicture) {
				t.Fatalf("an error without its sentinel: %v", err)
			}
			return
		}
		if len(p.Sha256) != sha256.Size || len(p.Png) > wire.MaxRoomPicture {
			t.Fatalf("decoded out of shape: %d-byte hash, %d-byte picture", len(p.Sha256), len(p.Png))
		}
		bob.faces.mu.Lock()
		bob.faces.asking["alice"] = ask{hash: hashOf(good), at: w.now}
		bob.faces.mu.Unlock()
		from := "alice"
		if stranger {
			from = "mallory"
		}
		in := &payload.Inbound{Ticket: w.tks[from], Payload: &wire.Payload{Kind: &wire.Payload_RoomPicture{RoomPicture: p}}}
		if err := bob.receivePicture(in); err != nil {
			t.Fatalf("a well-formed payload refused: %v", err)
		}
		files, _ := os.ReadDir(bob.faces.dir)
		for _, fl := range files {
			if fl.Name() != pictureFile(hashOf(good)) {
				t.Fatalf("cached %s", fl.Name())
			}
		}
	})
}
