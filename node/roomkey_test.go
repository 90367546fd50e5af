package node

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/wire"
	"eserver/supernode/client"
)

// roomTalk reads the next count room messages tn shows in room.
func (tn *testNode) roomTalk(room string, count int) []string {
	tn.t.Helper()
	var got []string
	for len(got) < count {
		e := tn.waitFor(fmt.Sprintf("room message %d of %d", len(got)+1, count), func(e api.Event) bool {
			return e.RoomMessage != nil && e.RoomMessage.Room == room
		})
		got = append(got, e.RoomMessage.From+": "+e.RoomMessage.Text)
	}
	return got
}

// TestInviteOnlyRoomBlindness: an invite-only room's members — contacts of
// no one — talk end to end: every message is sealed under its author's
// sender key, which reached the others over their pairwise sessions
// (through the mailboxes, as to strangers). Carol is banned: alice and bob
// replace their keys, and what they say afterwards is sealed under keys
// carol never had. Dave, invited later, joins and reads what follows —
// not what was said before he came.
// The room's home keeps only ciphertext: neither its databases nor the
// backlog it serves hold a word of the talk, while they do hold the room.
func TestInviteOnlyRoomBlindness(t *testing.T) {
	dir := t.TempDir()
	b := testBundleIn(t, dir)
	const name = "quokkaparlour"
	users := map[string]*testNode{}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		users[u] = newTestNode(t, b.Addr(), u)
		users[u].register()
		users[u].login()
	}
	alice, bob, carol, dave := users["alice"], users["bob"], users["carol"], users["dave"]
	texts := []string{"the vault code is marmalade-7781", "meet me by the xylophone at dusk",
		"carol is gone: ouagadougou at noon", "welcome dave, bring zanzibar kumquats"}

	if err := alice.CreateRoom(ctx(t), api.RoomSpec{Room: name, InviteOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.JoinRoom(ctx(t), name, ""); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "carol"} {
		if err := alice.RoomInvite(ctx(t), name, u); err != nil {
			t.Fatalf("alice invites %s: %v", u, err)
		}
	}
	for _, tn := range []*testNode{bob, carol} {
		if _, err := tn.JoinRoom(ctx(t), name, ""); err != nil {
			t.Fatalf("%s joins: %v", tn.name, err)
		}
	}
	if _, err := dave.JoinRoom(ctx(t), name, ""); err == nil {
		t.Fatal("dave, not invited, joins")
	}

	if _, err := alice.RoomSend(ctx(t), name, texts[0]); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, bob, carol} {
		if got := tn.roomTalk(name, 1); got[0] != "alice: "+texts[0] {
			t.Fatalf("%s reads %q", tn.name, got)
		}
	}
	if _, err := bob.RoomSend(ctx(t), name, texts[1]); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, bob, carol} {
		if got := tn.roomTalk(name, 1); got[0] != "bob: "+texts[1] {
			t.Fatalf("%s reads %q", tn.name, got)
		}
	}
	before := keyIDs(t, alice, name)

	if err := alice.RoomBan(ctx(t), name, "carol", 0); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, bob} {
		tn.waitFor("carol's ban", func(e api.Event) bool {
			return e.RoomEvent != nil && e.RoomEvent.Kind == api.RoomBan && e.RoomEvent.Username == "carol"
		})
	}
	if _, err := alice.RoomSend(ctx(t), name, texts[2]); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, bob} {
		if got := tn.roomTalk(name, 1); got[0] != "alice: "+texts[2] {
			t.Fatalf("%s reads %q", tn.name, got)
		}
	}
	if err := alice.RoomInvite(ctx(t), name, "dave"); err != nil {
		t.Fatal(err)
	}
	if _, err := dave.JoinRoom(ctx(t), name, ""); err != nil {
		t.Fatalf("dave, invited, joins: %v", err)
	}
	// Dave reads from his join on: bob's key reaches him with bob's next
	// message; alice's message from before he came stays closed to him.
	bob.waitFor("dave joining", func(e api.Event) bool {
		return e.RoomEvent != nil && e.RoomEvent.Kind == api.RoomJoin && e.RoomEvent.Username == "dave"
	})
	if _, err := bob.RoomSend(ctx(t), name, texts[3]); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{alice, dave} {
		if got := tn.roomTalk(name, 1); got[0] != "bob: "+texts[3] {
			t.Fatalf("%s reads %q", tn.name, got)
		}
	}
	// Dave's history holds what he can read: from his join on.
	hist, err := dave.RoomHistory(ctx(t), name, 0)
	if err != nil || len(hist) != 1 || hist[0].Text != texts[3] {
		t.Fatalf("dave's history: %+v, %v; want bob's message after his join only", hist, err)
	}
	// After the ban every message is sealed under a key made after it:
	// none carol could hold.
	after := keyIDs(t, alice, name)
	if len(before) != 2 || len(after) != 4 {
		t.Fatalf("key IDs of the backlog: %d before the ban, %d after; want 2 and 4 messages", len(before), len(after))
	}
	for _, id := range after[2:] {
		if slices.Contains(before, id) {
			t.Fatal("a message after the ban is sealed under a key from before it")
		}
	}

	for _, tn := range users {
		tn.stop()
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	var all []byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, raw...)
	}
	if !bytes.Contains(all, []byte(name)) {
		t.Fatalf("the room's name is in none of the home's files %v: the test looked in the wrong place", files)
	}
	for _, s := range texts {
		for _, w := range append(strings.Fields(s), s) {
			if len(w) < 6 {
				continue
			}
			for _, form := range []string{w, strings.ToUpper(w)} {
				if bytes.Contains(all, []byte(form)) {
					t.Errorf("the home's files hold %q", form)
				}
			}
		}
	}
}

// keyIDs are the sender key IDs of the room's backlog at its home, oldest
// first, as tn reads it; it fails on a message in plain text.
func keyIDs(t *testing.T, tn *testNode, name string) []string {
	t.Helper()
	s, err := tn.current()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := client.RoomBacklog(ctx(t), s.host, s.RoomHomes(name)[0].ID, s.tk().Signed, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sm := range msgs {
		var m wire.RoomMessage
		if err := proto.Unmarshal(sm.Message, &m); err != nil {
			t.Fatal(err)
		}
		if m.Text != "" || m.Sealed == nil {
			t.Fatalf("the home holds %s's message %s in plain text", m.Author, m.Id)
		}
		out = append(out, string(m.Sealed.KeyId))
	}
	return out
}
