package node

import (
	"testing"

	"eserver/node/api"
)

// TestInviteOnlyRoomOnTwoDevices is issue 17's "invite-only rooms fan
// out to devices the same way": bob invites alice into his invite-only
// room; she joins it from her laptop and from her desktop. Each of her
// devices reads bob's messages, and what she writes on either is read by
// bob and by her other device — the room's sender keys reach every device
// of hers, although she and bob are not contacts.
func TestInviteOnlyRoomOnTwoDevices(t *testing.T) {
	server := testServer(t)
	const name = "numbatparlour"
	bob := newTestNode(t, server, "bob")
	laptop := newTestNode(t, server, "alice")
	for _, tn := range []*testNode{bob, laptop} {
		tn.register()
		tn.login()
	}
	desktop := &testNode{t: t, dir: t.TempDir(), server: server, name: "alice", pass: laptop.pass}
	desktop.open()
	t.Cleanup(desktop.stop)
	desktop.login()
	ls, _ := laptop.current()
	ds, _ := desktop.current()
	waitUntil(t, "alice's devices to know each other", func() bool {
		return ls.identity.Own().Has(ds.host.ID()) && ds.identity.Own().Has(ls.host.ID())
	})

	if err := bob.CreateRoom(ctx(t), api.RoomSpec{Room: name, InviteOnly: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx(t), name, ""); err != nil {
		t.Fatal(err)
	}
	if err := bob.RoomInvite(ctx(t), name, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, tn := range []*testNode{laptop, desktop} {
		if _, err := tn.JoinRoom(ctx(t), name, ""); err != nil {
			t.Fatalf("a device of alice's joins: %v", err)
		}
	}
	bob.waitFor("alice joining", func(e api.Event) bool {
		return e.RoomEvent != nil && e.RoomEvent.Kind == api.RoomJoin && e.RoomEvent.Username == "alice"
	})

	says := []struct {
		from    *testNode
		text    string
		readers []*testNode
	}{
		{bob, "bob: the wombat sleeps at noon", []*testNode{laptop, desktop}},
		{desktop, "alice: from my desk, the kettle is on", []*testNode{bob, laptop}},
		{laptop, "alice: from my lap, the kettle boiled", []*testNode{bob, desktop}},
	}
	for _, s := range says {
		text := s.text[len(s.from.name)+2:]
		if _, err := s.from.RoomSend(ctx(t), name, text); err != nil {
			t.Fatal(err)
		}
		for _, tn := range append(s.readers, s.from) {
			if got := tn.roomTalk(name, 1); got[0] != s.text {
				t.Fatalf("a device of %s reads %q, want %q", tn.name, got, s.text)
			}
		}
	}
}
