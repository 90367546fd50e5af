package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"eserver/node/contacts"
	"eserver/node/presence"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/transfer"
	"eserver/node/wire"
)

// writePNG writes a w×h picture of one colour and returns its path.
func writePNG(t *testing.T, dir, name string, w, h int, c color.NRGBA) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// avatarTransfers counts the display-picture transfers in tn's store.
func avatarTransfers(t *testing.T, tn *testNode) (n int) {
	t.Helper()
	s, err := tn.current()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := s.store.Transfers()
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		if tr.Kind == store.KindAvatar {
			n++
		}
	}
	return n
}

// TestDisplayPictureExchange: a picture alice sets reaches bob byte for
// byte over the transfer protocol, without showing up as a file transfer,
// and is fetched once: her presence coming again (a status change, her
// restart) does not fetch it again. A new picture replaces it; going back
// to the default clears it.
func TestDisplayPictureExchange(t *testing.T) {
	alice, bob := friends(t, testServer(t))

	src := writePNG(t, t.TempDir(), "me.png", 300, 200, color.NRGBA{R: 200, G: 30, B: 30, A: 255})
	if err := alice.SetAvatar(ctx(t), src, api.Crop{}); err != nil {
		t.Fatal(err)
	}
	ev := alice.waitFor("our picture", func(e api.Event) bool { return e.Account != nil && e.Account.Avatar != "" })
	mine, err := os.ReadFile(ev.Account.AvatarPath)
	if err != nil {
		t.Fatalf("our picture's file: %v", err)
	}
	sum := sha256.Sum256(mine)
	if ev.Account.Avatar != hex.EncodeToString(sum[:]) {
		t.Fatalf("Avatar %s does not name the picture's bytes", ev.Account.Avatar)
	}
	if img, err := png.Decode(bytes.NewReader(mine)); err != nil || img.Bounds().Dx() != api.AvatarSize || img.Bounds().Dy() != api.AvatarSize {
		t.Fatalf("our picture is not a %d px square PNG: %v", api.AvatarSize, err)
	}

	got := bob.waitFor("alice's picture", func(e api.Event) bool {
		if e.Transfer != nil {
			t.Errorf("a display picture showed as a transfer: %+v", e.Transfer)
		}
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.AvatarPath != ""
	})
	if got.Contact.Avatar != ev.Account.Avatar {
		t.Fatalf("bob sees picture %s, alice set %s", got.Contact.Avatar, ev.Account.Avatar)
	}
	theirs, err := os.ReadFile(got.Contact.AvatarPath)
	if err != nil || !bytes.Equal(theirs, mine) {
		t.Fatalf("bob's copy differs from alice's picture (%v)", err)
	}
	if ts, _ := bob.Transfers(ctx(t)); len(ts) != 0 {
		t.Fatalf("bob's transfers list shows %d picture transfers", len(ts))
	}
	if n := avatarTransfers(t, alice); n != 1 {
		t.Fatalf("alice offered her picture %d times, want 1", n)
	}

	// Her presence again (a status change; then a restart, which sends it
	// anew): bob has the picture by its hash and asks for nothing.
	busy := api.StatusBusy
	if err := alice.SetPresence(ctx(t), api.PresenceUpdate{Status: &busy}); err != nil {
		t.Fatal(err)
	}
	bob.waitContact("alice", api.RelationAccepted, api.StatusBusy)
	alice.stop()
	bob.waitContact("alice", api.RelationAccepted, api.StatusOffline)
	// Offline, she keeps her name and picture in bob's list (as in MSN).
	if cs, err := bob.Contacts(ctx(t)); err != nil || len(cs) != 1 || cs[0].Nick != "alice" || cs[0].AvatarPath == "" {
		t.Fatalf("alice offline in bob's list: %+v (%v)", cs, err)
	}
	alice.open()
	alice.login()
	c := bob.waitFor("alice back", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.Status == api.StatusOnline
	}).Contact
	if c.AvatarPath == "" || c.Avatar != ev.Account.Avatar {
		t.Fatalf("after alice's restart bob shows picture %q at %q", c.Avatar, c.AvatarPath)
	}
	// A round of chat makes sure anything bob might have asked arrived.
	if _, err := bob.Send(ctx(t), "alice", "nice picture"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("bob's message", func(e api.Event) bool { return e.Message != nil && e.Message.From == "bob" })
	if n := avatarTransfers(t, alice); n != 1 {
		t.Fatalf("alice offered her picture %d times in all, want 1 (bob caches by hash)", n)
	}

	// A new picture replaces the old one; the default clears it.
	src2 := writePNG(t, t.TempDir(), "new.png", 120, 120, color.NRGBA{G: 180, B: 40, A: 255})
	if err := alice.SetAvatar(ctx(t), src2, api.Crop{X: 10, Y: 10, Size: 100}); err != nil {
		t.Fatal(err)
	}
	c = bob.waitFor("alice's new picture", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.AvatarPath != "" && e.Contact.Avatar != ev.Account.Avatar
	}).Contact
	if data, err := os.ReadFile(c.AvatarPath); err != nil || hex.EncodeToString(sha(data)) != c.Avatar {
		t.Fatalf("new picture does not match its name (%v)", err)
	}
	if err := alice.SetAvatar(ctx(t), "", api.Crop{}); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("alice's default picture", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.Avatar == "" && e.Contact.AvatarPath == ""
	})
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// TestAvatarOfferNamesThePicture: an offer of a display picture says which
// picture it carries by its name (hex SHA-256 + ".png"; its hash is the
// transfer's BLAKE3), so an offer named for another picture than the one
// the contact advertises is not fetched, and bytes that arrive under a
// name that is not their SHA-256 are refused rather than cached.
func TestAvatarOfferNamesThePicture(t *testing.T) {
	alice := newTestNode(t, testServer(t), "alice")
	alice.register()
	alice.login()
	s, err := alice.current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pic, err := os.ReadFile(writePNG(t, dir, "p.png", 40, 40, color.NRGBA{B: 200, A: 255}))
	if err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(sha(pic))
	other := hex.EncodeToString(sha([]byte("another picture")))
	if err := s.store.PutContact(store.Contact{Username: "bob", Relation: string(api.RelationAccepted), Avatar: h}); err != nil {
		t.Fatal(err)
	}

	for name, o := range map[string]*wire.FileOffer{
		"another picture's name": {Name: presence.PictureFile(other)},
		"no name":                {Name: ""},
		"short hash":             {Name: presence.PictureFile(h), Hash: make([]byte, transfer.HashSize-1)},
	} {
		o.Id, o.Key, o.Size, o.ChunkSize, o.Kind = bytes.Repeat([]byte{1}, 16), make([]byte, 32), int64(len(pic)), transfer.DefaultChunkSize, wire.FileOffer_AVATAR
		if o.Hash == nil {
			o.Hash = make([]byte, transfer.HashSize)
		}
		if err := s.presence.AvatarOffered("bob", o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := s.store.Transfer(o.Id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the offer was taken (%v)", name, err)
		}
	}

	arrived := func(name string) error {
		f := filepath.Join(dir, "arrived.png")
		if err := os.WriteFile(f, pic, 0o600); err != nil {
			t.Fatal(err)
		}
		err := s.presence.AvatarArrived(store.Transfer{Peer: "bob", Name: name, Kind: store.KindAvatar}, f)
		if _, serr := os.Stat(f); serr == nil {
			t.Fatal("the received file was left behind")
		}
		return err
	}
	if err := arrived(presence.PictureFile(other)); !errors.Is(err, transfer.ErrCorrupt) {
		t.Fatalf("bytes under another picture's name: %v, want ErrCorrupt", err)
	}
	if alice.picturePath(other) != "" || alice.picturePath(h) != "" {
		t.Fatal("a picture that did not match its name was cached")
	}
	if err := arrived(presence.PictureFile(h)); err != nil {
		t.Fatal(err)
	}
	if alice.picturePath(h) == "" {
		t.Fatal("the picture was not cached under its SHA-256")
	}
}

func TestSetAvatarRefusesBadInput(t *testing.T) {
	alice := newTestNode(t, testServer(t), "alice")
	alice.register()
	alice.login()
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a picture"), 0o600)
	img := writePNG(t, dir, "p.png", 50, 50, color.NRGBA{A: 255})
	for name, tc := range map[string]struct {
		path string
		crop api.Crop
	}{
		"not an image":   {text, api.Crop{}},
		"missing file":   {filepath.Join(dir, "nope.png"), api.Crop{}},
		"crop past edge": {img, api.Crop{X: 40, Y: 0, Size: 20}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := alice.SetAvatar(ctx(t), tc.path, tc.crop); !errors.Is(err, api.ErrBadRequest) {
				t.Fatalf("err = %v, want ErrBadRequest", err)
			}
		})
	}
	if s, _ := alice.current(); s.account().Avatar != "" {
		t.Fatal("a refused picture was set")
	}
}

// TestTypingAndNudge: typing reaches the contact (throttled), a nudge
// shakes the contact's window once per NudgeInterval, and neither reaches
// a contact that is offline — a nudge says so.
func TestTypingAndNudge(t *testing.T) {
	alice, bob := friends(t, testServer(t))
	for range 3 { // one signal per TypingInterval: the other two are dropped
		if err := alice.Typing(ctx(t), "bob"); err != nil {
			t.Fatal(err)
		}
	}
	bob.waitFor("typing", func(e api.Event) bool { return e.Typing != nil && e.Typing.From == "alice" })

	if err := alice.Nudge(ctx(t), "bob"); err != nil {
		t.Fatalf("nudge: %v", err)
	}
	bob.waitFor("nudge", func(e api.Event) bool { return e.Nudge != nil && e.Nudge.From == "alice" })
	if err := alice.Nudge(ctx(t), "bob"); !errors.Is(err, api.ErrRateLimited) {
		t.Fatalf("second nudge at once: %v, want ErrRateLimited", err)
	}
	if err := alice.Nudge(ctx(t), "mallory"); !errors.Is(err, api.ErrNotContact) {
		t.Fatalf("nudge to a stranger: %v, want ErrNotContact", err)
	}
	// Typing leaves nothing; the nudge is in both histories, as the chat
	// window showed it, with nothing of its own to read.
	for _, tc := range []struct {
		tn   *testNode
		with string
	}{{bob, "alice"}, {alice, "bob"}} {
		h, err := tc.tn.History(ctx(t), tc.with, 10, "")
		if err != nil || len(h) != 1 || h[0].Kind != api.KindNudge || h[0].From != "alice" || h[0].To != "bob" || h[0].Text != "" {
			t.Fatalf("%s's history after a nudge and typing: %+v (%v)", tc.tn.name, h, err)
		}
	}

	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	if err := alice.Nudge(ctx(t), "bob"); !errors.Is(err, api.ErrRateLimited) && !errors.Is(err, api.ErrUnreachable) {
		t.Fatalf("nudge to offline bob: %v", err)
	}
}

// TestNudgeUnreachable: with the rate limit passed, a nudge to a contact
// that went offline fails as unreachable, and is not mailed: bob coming back
// sees no nudge.
func TestNudgeUnreachable(t *testing.T) {
	alice, bob := friends(t, testServer(t))
	bob.stop()
	alice.waitContact("bob", api.RelationAccepted, api.StatusOffline)
	if err := alice.Nudge(ctx(t), "bob"); !errors.Is(err, api.ErrUnreachable) {
		t.Fatalf("nudge to offline bob: %v, want ErrUnreachable", err)
	}
	bob.open()
	bob.login()
	bob.waitContact("alice", api.RelationAccepted, api.StatusOnline)
	if _, err := alice.Send(ctx(t), "bob", "are you there?"); err != nil {
		t.Fatal(err)
	}
	bob.waitFor("message", func(e api.Event) bool {
		if e.Nudge != nil {
			t.Error("a nudge sent while bob was offline reached him later")
		}
		return e.Message != nil && e.Message.From == "alice"
	})
}

// TestGroupsAndAliases: the user's own arrangement of the list is kept,
// shown and validated, and never sent to the contact.
func TestGroupsAndAliases(t *testing.T) {
	alice, bob := friends(t, testServer(t))
	if err := alice.SetContactGroup(ctx(t), "bob", "  Work  "); err != nil {
		t.Fatal(err)
	}
	if err := alice.RenameContact(ctx(t), "bob", "Bobby"); err != nil {
		t.Fatal(err)
	}
	alice.waitFor("renamed", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "bob" && e.Contact.Group == "Work" && e.Contact.Alias == "Bobby"
	})
	for name, tc := range map[string]struct {
		fn   func() error
		want error
	}{
		"group too long": {func() error {
			return alice.SetContactGroup(ctx(t), "bob", strings.Repeat("g", contacts.MaxGroupName+1))
		}, api.ErrBadRequest},
		"control char":    {func() error { return alice.RenameContact(ctx(t), "bob", "a\x00b") }, api.ErrBadRequest},
		"bad utf-8":       {func() error { return alice.RenameContact(ctx(t), "bob", "\xff") }, api.ErrBadRequest},
		"unknown contact": {func() error { return alice.SetContactGroup(ctx(t), "nobody", "x") }, api.ErrNotContact},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	cs, err := alice.Contacts(ctx(t))
	if err != nil || len(cs) != 1 || cs[0].Group != "Work" || cs[0].Alias != "Bobby" {
		t.Fatalf("contacts %+v (%v)", cs, err)
	}
	// An alias and group emptied go back to none.
	if err := alice.RenameContact(ctx(t), "bob", ""); err != nil {
		t.Fatal(err)
	}
	if cs, _ := alice.Contacts(ctx(t)); cs[0].Alias != "" {
		t.Fatalf("alias not cleared: %+v", cs[0])
	}
	// Bob never learns how alice files him.
	bcs, _ := bob.Contacts(ctx(t))
	if len(bcs) != 1 || bcs[0].Group != "" || bcs[0].Alias != "" {
		t.Fatalf("bob's view of alice carries alice's arrangement: %+v", bcs)
	}
}

// TestImageOfferPreview: an image file's offer carries a preview the
// receiver sees before accepting; other files carry none.
func TestImageOfferPreview(t *testing.T) {
	alice, bob := friends(t, testServer(t))
	dir := t.TempDir()
	img := writePNG(t, dir, "holiday.png", 640, 480, color.NRGBA{B: 200, A: 255})
	if _, err := alice.SendFile(ctx(t), "bob", img); err != nil {
		t.Fatal(err)
	}
	tr := bob.waitFor("image offer", func(e api.Event) bool {
		return e.Transfer != nil && e.Transfer.State == api.TransferIncoming && e.Transfer.Name == "holiday.png"
	}).Transfer
	if tr.Type != "image/png" || len(tr.Thumbnail) == 0 {
		t.Fatalf("image offer: type %q, %d bytes of preview", tr.Type, len(tr.Thumbnail))
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(tr.Thumbnail))
	if err != nil || cfg.Width != 96 || cfg.Height != 72 {
		t.Fatalf("preview %dx%d (%v), want 96x72", cfg.Width, cfg.Height, err)
	}
	txt := filepath.Join(dir, "notes.txt")
	os.WriteFile(txt, []byte("plain words"), 0o600)
	if _, err := alice.SendFile(ctx(t), "bob", txt); err != nil {
		t.Fatal(err)
	}
	tr = bob.waitFor("text offer", func(e api.Event) bool {
		return e.Transfer != nil && e.Transfer.State == api.TransferIncoming && e.Transfer.Name == "notes.txt"
	}).Transfer
	if len(tr.Thumbnail) != 0 || !strings.HasPrefix(tr.Type, "text/plain") {
		t.Fatalf("text offer: type %q, %d bytes of preview", tr.Type, len(tr.Thumbnail))
	}
	// The preview survives in the store (the list after a restart shows it).
	ts, err := bob.Transfers(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, x := range ts {
		found = found || (x.Name == "holiday.png" && len(x.Thumbnail) > 0)
	}
	if !found {
		t.Fatal("Transfers lost the preview")
	}
}
