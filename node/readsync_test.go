package node

import (
	"fmt"
	"testing"

	"eserver/node/api"
	"eserver/node/delivery"
	"eserver/node/wire"
)

// readMarks is how many ReadMark payloads tn's session handled and
// refused.
func readMarks(t *testing.T, tn *testNode) (handled, refused int64) {
	t.Helper()
	s, err := tn.current()
	if err != nil {
		t.Fatal(err)
	}
	return s.kinds.Tally((*wire.Payload_ReadMark)(nil))
}

// TestReadOnOneDevice: bob sends alice three messages, and both of her
// devices show them unread. She reads them on the laptop: the desktop's
// count goes to 0 too, with a Read event, while bob's node is never sent
// the mark. A read mark bob forges is refused by both devices and changes
// nothing; and an account with one device sends its marks nowhere.
func TestReadOnOneDevice(t *testing.T) {
	svc := testBundle(t)
	server := svc.Addr()
	laptop, bob := friends(t, server)
	desktop := secondDevice(t, server, laptop)
	ls, _ := laptop.current()
	ds, _ := desktop.current()
	bs, _ := bob.current()
	waitUntil(t, "bob to know alice's two devices", func() bool {
		c, _ := bs.store.Contact("alice")
		k, err := bs.identity.Contact(c)
		return err == nil && k.Devices != nil && k.Devices.Has(ls.host.ID()) && k.Devices.Has(ds.host.ID())
	})
	waitUntil(t, "the laptop to know the desktop", func() bool {
		own := ls.identity.Own()
		return own != nil && own.Has(ds.host.ID())
	})
	devices := map[string]*testNode{"laptop": laptop, "desktop": desktop}
	unread := func(want int) {
		t.Helper()
		for name, d := range devices {
			waitUntil(t, fmt.Sprintf("%d unread from bob on the %s", want, name), func() bool { return contactOf(t, d, "bob").Unread == want })
		}
	}

	for i := range 3 {
		if _, err := bob.Send(ctx(t), "alice", fmt.Sprintf("bob #%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for name, d := range devices {
		waitUntil(t, "bob's messages on the "+name, func() bool { return len(history(t, d, "bob")) == 3 })
	}
	unread(3)

	// Read on the laptop: 0 there at once, and on the desktop soon.
	if err := laptop.MarkRead(ctx(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if n := contactOf(t, laptop, "bob").Unread; n != 0 {
		t.Fatalf("the laptop shows %d unread right after MarkRead, want 0", n)
	}
	laptop.waitFor("the laptop's Read event", func(e api.Event) bool {
		return e.Read != nil && *e.Read == api.ReadEvent{Conversation: "bob", Unread: 0}
	})
	desktop.waitFor("the desktop's Read event", func(e api.Event) bool {
		return e.Read != nil && *e.Read == api.ReadEvent{Conversation: "bob", Unread: 0}
	})
	unread(0)
	// The handler emits the Read event before the registry counts it
	// handled (it counts what the handler returned): wait for the count.
	waitUntil(t, "the desktop to count the read mark handled", func() bool { h, _ := readMarks(t, desktop); return h >= 1 })
	if h, r := readMarks(t, desktop); h != 1 || r != 0 {
		t.Fatalf("the desktop handled %d and refused %d read marks, want 1 and 0", h, r)
	}
	// Everything the laptop queued went out; had a mark been queued for
	// bob, it would have reached him by now.
	waitUntil(t, "the laptop's outbox to empty", func() bool {
		ps, err := ls.store.OutboxPeers()
		return err == nil && len(ps) == 0
	})
	if h, r := readMarks(t, bob); h != 0 || r != 0 {
		t.Fatalf("bob's node was sent %d read marks (%d refused), want none", h+r, r)
	}
	// Reading again sends nothing: nothing newer to mark.
	if err := laptop.MarkRead(ctx(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if ps, err := ls.store.OutboxPeers(); err != nil || len(ps) != 0 {
		t.Fatalf("reading a read conversation queued for %v (%v)", ps, err)
	}

	// Two more from bob, then a mark he forges to clear them, sent to
	// each of alice's devices: refused, and nothing changes.
	for i := range 2 {
		if _, err := bob.Send(ctx(t), "alice", fmt.Sprintf("bob again #%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	unread(2)
	before, _, err := ds.store.ReadMark("bob")
	if err != nil {
		t.Fatal(err)
	}
	forged := func() *wire.Payload {
		return &wire.Payload{Kind: &wire.Payload_ReadMark{ReadMark: &wire.ReadMark{
			Conversation: "bob", UpToUnixMilli: bs.Now().UnixMilli(), LastId: "ffffffffffffffffffffffffffffffff"}}}
	}
	for _, p := range []*testNode{laptop, desktop} {
		ps, _ := p.current()
		if err := bs.delivery.Enqueue(delivery.DeviceRoute("alice", ps.host.ID()), forged(), nil); err != nil {
			t.Fatal(err)
		}
	}
	for name, d := range devices {
		waitUntil(t, "the "+name+" to refuse bob's read mark", func() bool { _, r := readMarks(t, d); return r == 1 })
	}
	unread(2)
	if after, _, err := ds.store.ReadMark("bob"); err != nil || after != before {
		t.Fatalf("a forged mark moved the desktop's from %+v to %+v (%v)", before, after, err)
	}
	if h, _ := readMarks(t, laptop); h != 0 {
		t.Fatalf("the laptop handled %d read marks, want none", h)
	}

	// Bob has one device: his reading is his alone.
	if _, err := laptop.Send(ctx(t), "bob", "thanks"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "alice's message at bob", func() bool { return contactOf(t, bob, "alice").Unread == 1 })
	if err := bob.MarkRead(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	if n := contactOf(t, bob, "alice").Unread; n != 0 {
		t.Fatalf("bob shows %d unread after MarkRead, want 0", n)
	}
	if ps, err := bs.store.OutboxPeers(); err != nil || len(ps) != 0 {
		t.Fatalf("a one-device account queued its mark for %v (%v)", ps, err)
	}
	if err := bob.MarkRead(ctx(t), "bob"); err == nil {
		t.Fatal("MarkRead of our own name succeeded")
	}
}
