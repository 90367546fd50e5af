package node

import (
	"errors"
	"testing"

	"eserver/node/api"
)

// TestAddContactNoSuchUser: adding a name no account has fails at once
// with api.ErrNoSuchUser and leaves the list as it was; a real user is
// added as before (issue 14, item 3: "nosuchuser" stayed "(pending)" for
// ever).
func TestAddContactNoSuchUser(t *testing.T) {
	server := testServer(t)
	alice := newTestNode(t, server, "alice")
	bob := newTestNode(t, server, "bob")
	alice.register()
	bob.register()
	alice.login()

	err := alice.AddContact(ctx(t), "nosuchuser", "hi")
	if !errors.Is(err, api.ErrNoSuchUser) || api.Code(err) != "no_such_user" {
		t.Fatalf("adding nosuchuser: %v (code %q), want %v", err, api.Code(err), api.ErrNoSuchUser)
	}
	if cs, err := alice.Contacts(ctx(t)); err != nil || len(cs) != 0 {
		t.Fatalf("after a failed add the list holds %+v (%v)", cs, err)
	}
	if err := alice.AddContact(ctx(t), "bob", "hi"); err != nil {
		t.Fatalf("adding bob: %v", err)
	}
	cs, err := alice.Contacts(ctx(t))
	if err != nil || len(cs) != 1 || cs[0].Username != "bob" || cs[0].Relation != api.RelationPendingOut {
		t.Fatalf("after adding bob the list holds %+v (%v)", cs, err)
	}
	// Bob already in the list: asking again asks no server.
	if err := alice.AddContact(ctx(t), "bob", "hi again"); err != nil {
		t.Fatalf("adding bob again: %v", err)
	}
}
