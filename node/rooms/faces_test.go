package rooms_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"eserver/node/api"
	"eserver/node/nodetest"
)

// writePicture writes a w×w PNG of one colour under dir.
func writePicture(t *testing.T, dir string, w int, c color.NRGBA) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, w))
	for y := range w {
		for x := range w {
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "me.png")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStrangersFaces: alice and bob are contacts of no one. Alice has a
// nick (with a bidi override in it) and a picture; in a public room bob
// sees her messages with her nick, cleaned, and — after asking her node
// for it, once — her picture, byte for byte the one she set, in his
// messages and his member list; her later messages carry it at once.
// Nothing of her enters bob's contact list. Bob, with no nick set and
// no picture, shows to alice as his username and the default picture.
func TestStrangersFaces(t *testing.T) {
	server := nodetest.Server(t)
	alice := nodetest.New(t, server, "alice")
	bob := nodetest.New(t, server, "bob")
	ctx := nodetest.Context(t)
	const name = "faces"

	nick := "Alice \u202eecilA"
	if err := alice.SetPresence(ctx, api.PresenceUpdate{Nick: &nick}); err != nil {
		t.Fatal(err)
	}
	if err := alice.SetAvatar(ctx, writePicture(t, t.TempDir(), 200, color.NRGBA{R: 200, G: 30, B: 30, A: 255}), api.Crop{}); err != nil {
		t.Fatal(err)
	}
	acc := alice.WaitFor("alice's picture", func(e api.Event) bool { return e.Account != nil && e.Account.Avatar != "" }).Account
	mine, err := os.ReadFile(acc.AvatarPath)
	if err != nil {
		t.Fatal(err)
	}

	if err := alice.CreateRoom(ctx, api.RoomSpec{Room: name, Public: true}); err != nil {
		t.Fatal(err)
	}
	joinAll(t, name, alice, bob)
	send(t, alice, name, "hello")
	first := bob.WaitFor("alice's message", func(e api.Event) bool {
		return e.RoomMessage != nil && e.RoomMessage.From == "alice"
	}).RoomMessage
	if first.Nick != "Alice ecilA" || strings.ContainsRune(first.Nick, '\u202e') {
		t.Fatalf("bob sees alice's nick as %q, want it cleaned of the bidi override", first.Nick)
	}

	// The picture arrives from her node, once, as the one she advertised.
	ev := roomEvent(t, bob, name, api.RoomPicture, "alice")
	got, err := os.ReadFile(ev.AvatarPath)
	if err != nil {
		t.Fatalf("bob's copy of alice's picture: %v", err)
	}
	if !bytes.Equal(got, mine) {
		t.Fatal("bob's copy of alice's picture differs from hers")
	}
	if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != acc.Avatar {
		t.Fatalf("bob's picture of alice hashes to %x, she advertises %s", sum, acc.Avatar)
	}
	send(t, alice, name, "again")
	again := bob.WaitFor("alice's second message", func(e api.Event) bool {
		return e.RoomMessage != nil && e.RoomMessage.Text == "again"
	}).RoomMessage
	if again.AvatarPath != ev.AvatarPath || again.Nick != first.Nick {
		t.Fatalf("alice's second message shows %q with %q, want %q with %q", again.Nick, again.AvatarPath, first.Nick, ev.AvatarPath)
	}
	hist, err := bob.RoomHistory(ctx, name, 0)
	if err != nil || len(hist) != 2 || hist[0].AvatarPath != ev.AvatarPath || hist[0].Nick != first.Nick {
		t.Fatalf("bob's history: %+v, %v", hist, err)
	}
	members, err := bob.RoomMembers(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var row api.RoomMember
	for _, m := range members {
		if m.Username == "alice" {
			row = m
		}
	}
	if row.Nick != first.Nick || row.AvatarPath != ev.AvatarPath {
		t.Fatalf("bob's member row of alice: %+v", row)
	}
	if cs, err := bob.Contacts(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("bob's contacts after the room: %+v, %v", cs, err)
	}
	// Only one picture was fetched: the cache of strangers' pictures
	// holds hers alone.
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(ev.AvatarPath), "*.png")); len(files) != 1 {
		t.Fatalf("bob's cache of strangers' pictures: %q", files)
	}

	send(t, bob, name, "hi alice")
	fromBob := alice.WaitFor("bob's message", func(e api.Event) bool {
		return e.RoomMessage != nil && e.RoomMessage.From == "bob"
	}).RoomMessage
	if fromBob.Nick != "bob" || fromBob.AvatarPath != "" {
		t.Fatalf("alice sees bob as %q with %q, want his username and the default picture", fromBob.Nick, fromBob.AvatarPath)
	}
}
