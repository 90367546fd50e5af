package node

import (
	"fmt"
	"slices"
	"testing"

	"eserver/node/api"
)

// convTexts is n's messages in conversation id, oldest first, as
// "author:text" (entries such as invitations left out).
func convTexts(t *testing.T, n *testNode, id string) []string {
	t.Helper()
	ms, err := n.History(ctx(t), id, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		if m.Kind == api.KindMessage || m.Kind == "" {
			out = append(out, m.From+":"+m.Text)
		}
	}
	return out
}

// members is n's members of conversation id ("" when it has none).
func members(t *testing.T, n *testNode, id string) string {
	t.Helper()
	cs, err := n.Conversations(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == id {
			return fmt.Sprint(c.Members)
		}
	}
	return ""
}

// aliceOnTwoDevices is alice on her laptop and her desktop, with bob and
// carol her contacts on both, each knowing both of her devices.
func aliceOnTwoDevices(t *testing.T) (laptop, desktop, bob, carol *testNode) {
	t.Helper()
	server := testServer(t)
	laptop = syncingDevice(t, server, "alice", "pw-alice")
	bob, carol = newTestNode(t, server, "bob"), newTestNode(t, server, "carol")
	for _, tn := range []*testNode{laptop, bob, carol} {
		tn.register()
		tn.login()
	}
	befriend(t, laptop, bob)
	befriend(t, laptop, carol)
	ls, _ := laptop.current()
	waitUntil(t, "alice's list backed up", func() bool { return ls.contacts.BackupVersion() > 0 })
	desktop = syncingDevice(t, server, "alice", laptop.pass)
	desktop.login()
	waitUntil(t, "bob and carol on the desktop", func() bool {
		return contactOf(t, desktop, "bob").Relation == api.RelationAccepted && contactOf(t, desktop, "carol").Relation == api.RelationAccepted
	})
	ds, _ := desktop.current()
	for _, tn := range []*testNode{bob, carol} {
		s, _ := tn.current()
		waitUntil(t, tn.name+" to know alice's two devices", func() bool {
			c, _ := s.store.Contact("alice")
			k, err := s.identity.Contact(c)
			return err == nil && k.Devices != nil && k.Devices.Has(ls.host.ID()) && k.Devices.Has(ds.host.ID())
		})
	}
	waitUntil(t, "alice's devices to know each other", func() bool {
		return ls.identity.Own().Has(ds.host.ID()) && ds.identity.Own().Has(ls.host.ID())
	})
	return laptop, desktop, bob, carol
}

// TestConversationOnEveryDevice is issue 17's "multi-party conversations
// fan out to devices the same way": alice is in a conversation with bob
// and carol from her laptop and her desktop. The conversation started on
// the laptop shows on the desktop; every message of bob's reaches both
// once, in order; what alice writes on either shows on the other as hers
// and reaches bob and carol once; a member added on one shows on the
// other; leaving on one leaves on both.
func TestConversationOnEveryDevice(t *testing.T) {
	laptop, desktop, bob, carol := aliceOnTwoDevices(t)
	alice := []*testNode{laptop, desktop}

	id, err := laptop.Invite(ctx(t), "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	const three = "[alice bob carol]"
	for _, tn := range []*testNode{desktop, bob, carol} {
		waitUntil(t, tn.name+" to see the conversation of three", func() bool { return members(t, tn, id) == three })
	}

	var want []string
	wait := func(what string, who []*testNode) {
		t.Helper()
		for _, tn := range who {
			waitUntil(t, what+" at "+tn.name, func() bool { return len(convTexts(t, tn, id)) >= len(want) })
		}
	}
	for i := range 5 {
		text := fmt.Sprintf("bob #%d", i)
		if _, err := bob.Send(ctx(t), id, text); err != nil {
			t.Fatal(err)
		}
		want = append(want, "bob:"+text)
	}
	wait("bob's messages", alice)
	for _, tn := range alice {
		if got := convTexts(t, tn, id); !slices.Equal(got, want) {
			t.Fatalf("alice's device %p has %q, want %q", tn, got, want)
		}
	}

	for _, from := range alice {
		text := "alice on the laptop"
		if from == desktop {
			text = "alice on the desktop"
		}
		if _, err := from.Send(ctx(t), id, text); err != nil {
			t.Fatal(err)
		}
		want = append(want, "alice:"+text)
		wait("alice's message", []*testNode{laptop, desktop, bob, carol})
	}
	for _, tn := range alice {
		if got := convTexts(t, tn, id); !slices.Equal(got, want) {
			t.Fatalf("one of alice's devices has %q, want %q", got, want)
		}
	}
	// Bob and carol (who has bob's messages from both of alice's devices,
	// passing them on) hold every message once.
	for _, tn := range []*testNode{bob, carol} {
		got := convTexts(t, tn, id)
		for _, w := range want {
			if n := countOf(got, w); n != 1 {
				t.Fatalf("%s has %q %d times: %q", tn.name, w, n, got)
			}
		}
	}
	// The desktop's own message is shown as sent, on the laptop too.
	for _, tn := range alice {
		ms, err := tn.History(ctx(t), id, 1000, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Kind == api.KindMessage && m.From == "alice" && m.State != api.StateDelivered && m.State != api.StateQueued {
				t.Fatalf("alice's message %q in state %q", m.Text, m.State)
			}
		}
	}

	// A member invited on the desktop shows on the laptop.
	dave := newTestNode(t, laptop.server, "dave")
	dave.register()
	dave.login()
	// Dave's acceptance reaches one of alice's devices, the other through
	// the account's sync (TestAccountChangeToldAtOnce); whether dave shows
	// online on both is TestPresenceAndSignalsToEveryDevice's matter.
	if err := laptop.AddContact(ctx(t), "dave", ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "dave asked", func() bool { return contactOf(t, dave, "alice").Relation == api.RelationPendingIn })
	if err := dave.AcceptContact(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	for _, tn := range alice {
		waitUntil(t, "dave on each of alice's devices", func() bool { return contactOf(t, tn, "dave").Relation == api.RelationAccepted })
	}
	if _, err := desktop.Invite(ctx(t), id, "dave"); err != nil {
		t.Fatal(err)
	}
	const four = "[alice bob carol dave]"
	for _, tn := range []*testNode{laptop, bob, carol, dave} {
		waitUntil(t, tn.name+" to see dave in the conversation", func() bool { return members(t, tn, id) == four })
	}

	// Leaving on the laptop leaves on the desktop.
	if err := laptop.LeaveConversation(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the desktop to have left", func() bool {
		cs, _ := desktop.Conversations(ctx(t))
		return len(cs) == 1 && cs[0].Left
	})
	for _, tn := range []*testNode{bob, carol} {
		waitUntil(t, tn.name+" to see alice leave", func() bool { return members(t, tn, id) == "[bob carol dave]" })
	}
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// TestPresenceAndSignalsToEveryDevice: bob's status, typing and nudges
// reach both of alice's devices; a nudge is delivered when a device took
// it. Bob sees alice's status from either device (as before).
func TestPresenceAndSignalsToEveryDevice(t *testing.T) {
	laptop, desktop, bob, _ := aliceOnTwoDevices(t)
	alice := []*testNode{laptop, desktop}

	busy := api.StatusBusy
	if err := bob.SetPresence(ctx(t), api.PresenceUpdate{Status: &busy}); err != nil {
		t.Fatal(err)
	}
	for _, tn := range alice {
		waitUntil(t, "bob busy on both of alice's devices", func() bool { return contactOf(t, tn, "bob").Status == api.StatusBusy })
	}
	if err := bob.Typing(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	for _, tn := range alice {
		tn.waitFor("bob typing", func(e api.Event) bool { return e.Typing != nil && e.Typing.From == "bob" })
	}
	if err := bob.Nudge(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	for _, tn := range alice {
		tn.waitFor("bob's nudge", func(e api.Event) bool { return e.Nudge != nil && e.Nudge.From == "bob" })
	}

	// Bob sees the status alice sets on either device.
	away := api.StatusAway
	if err := laptop.SetPresence(ctx(t), api.PresenceUpdate{Status: &away}); err != nil {
		t.Fatal(err)
	}
	if err := desktop.SetPresence(ctx(t), api.PresenceUpdate{Status: &away}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob to see alice away", func() bool { return contactOf(t, bob, "alice").Status == api.StatusAway })
	online := api.StatusOnline
	if err := desktop.SetPresence(ctx(t), api.PresenceUpdate{Status: &online}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob to see alice online from the desktop", func() bool { return contactOf(t, bob, "alice").Status == api.StatusOnline })
}
