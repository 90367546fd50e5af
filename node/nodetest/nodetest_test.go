package nodetest

import (
	"testing"

	"eserver/node/api"
)

// TestPairChats: the pair Pair returns really are contacts — a message from
// alice arrives at bob, and his answer at her.
func TestPairChats(t *testing.T) {
	alice, bob := Pair(t)
	id, err := alice.Send(Context(t), bob.Name, "hello bob")
	if err != nil {
		t.Fatal(err)
	}
	if m := bob.Messages(alice.Name, 1)[0]; m.ID != id || m.Text != "hello bob" || m.To != bob.Name {
		t.Fatalf("bob got %+v, want %s's message %s", m, alice.Name, id)
	}
	alice.WaitFor("bob's delivery receipt", func(e api.Event) bool {
		return e.Delivered != nil && e.Delivered.ID == id
	})
	if _, err := bob.Send(Context(t), alice.Name, "hi alice"); err != nil {
		t.Fatal(err)
	}
	if m := alice.Messages(bob.Name, 1)[0]; m.Text != "hi alice" {
		t.Fatalf("alice got %+v", m)
	}
}

// TestStopStart: a stopped node comes back on its profile and signs in as
// the same account; its contact sees it leave and return.
func TestStopStart(t *testing.T) {
	alice, bob := Pair(t)
	bob.Stop()
	bob.Stop() // a second Stop does nothing
	alice.WaitContact(bob.Name, api.RelationAccepted, api.StatusOffline)
	bob.Start()
	bob.SignIn()
	alice.WaitContact(bob.Name, api.RelationAccepted, api.StatusOnline)
}
