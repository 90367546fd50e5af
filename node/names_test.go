package node

import (
	"testing"

	"eserver/node/api"
	"eserver/node/text"
)

// TestPeerNamesShownClean (issue 13, item 12) is the attack through the
// whole node: what a peer chose to be called — a contact request's note,
// a nick, a personal message, a stream's label — carries bidi overrides
// and invisible characters. Whichever front end asks (events and lists
// are the same API for the GUI and the daemon), it gets them without,
// including for a nick stored before names were cleaned.
func TestPeerNamesShownClean(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	alice.register()
	bob.register()
	alice.login()
	bob.login()

	if err := alice.AddContact(ctx(t), "bob", "hi, it's \u202eecila"); err != nil {
		t.Fatal(err)
	}
	req := bob.waitFor("contact request", func(e api.Event) bool { return e.ContactRequest != nil })
	if req.ContactRequest.Message != "hi, it's ecila" {
		t.Fatalf("request note shown as %+q", req.ContactRequest.Message)
	}
	if err := bob.AcceptContact(ctx(t), "alice"); err != nil {
		t.Fatal(err)
	}
	bob.waitContact("alice", api.RelationAccepted, api.StatusOnline)
	alice.waitContact("bob", api.RelationAccepted, api.StatusOnline) // a stream needs bob online on her side too

	nick, sub := "\u2067gpj.exe\u2069 alice", "on\u200b holiday\u202e"
	if err := alice.SetPresence(ctx(t), api.PresenceUpdate{Nick: &nick, Subnick: &sub}); err != nil {
		t.Fatal(err)
	}
	c := bob.waitFor("alice's nick", func(e api.Event) bool {
		return e.Contact != nil && e.Contact.Username == "alice" && e.Contact.Nick != "alice"
	}).Contact
	if c.Nick != "gpj.exe alice" || c.Subnick != "on holiday" {
		t.Fatalf("bob shows alice as %+q / %+q", c.Nick, c.Subnick)
	}

	id, w, err := alice.OpenStream(ctx(t), "bob", "mic\u202erohp")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	in := bob.waitFor("the incoming stream", func(e api.Event) bool { return e.StreamIncoming != nil }).StreamIncoming
	if in.ID != id || in.Label != "microhp" {
		t.Fatalf("stream label shown as %+q", in.Label)
	}

	// A nick stored before names were cleaned is shown clean.
	s, err := bob.current()
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.store.Contact("alice")
	if err != nil {
		t.Fatal(err)
	}
	old.Nick, old.Media = "\u202eecila", "song\u200f.mp3"
	if err := s.store.PutContact(old); err != nil {
		t.Fatal(err)
	}
	cs, err := bob.Contacts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		for _, v := range []string{c.Nick, c.Subnick, c.Media, c.RequestMessage} {
			if text.Clean(v) != v {
				t.Fatalf("listed %s with %+q", c.Username, v)
			}
		}
		if c.Username == "alice" && c.Nick != "ecila" {
			t.Fatalf("stored nick listed as %+q", c.Nick)
		}
	}
}
