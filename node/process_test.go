package node

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// FuzzProcess feeds arbitrary payloads to the process stage of a real
// signed-in node, as if they had passed authentication and decryption,
// from an accepted contact and from a stranger. Nothing panics, and nothing
// a stranger sends reaches the history: at most a pending request.
func FuzzProcess(f *testing.F) {
	alice := newTestNode(f, testServer(f), "alice")
	alice.register()
	alice.login()
	s, err := alice.current()
	if err != nil {
		f.Fatal(err)
	}
	bob := &ticket.Ticket{Username: "bob", Peer: newDevice(f), Server: s.tk().Server, BoxKey: make([]byte, 32)}
	mallory := &ticket.Ticket{Username: "mallory", Peer: newDevice(f), Server: s.tk().Server, BoxKey: make([]byte, 32)}
	if err := s.store.PutContact(store.Contact{Username: "bob", Relation: string(api.RelationAccepted), PeerID: bob.Peer.String()}); err != nil {
		f.Fatal(err)
	}
	for _, p := range []*wire.Payload{
		{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: "hi"}}},
		{Kind: &wire.Payload_Presence{Presence: &wire.Presence{Status: "online", Nick: "Bob"}}},
		{Kind: &wire.Payload_ContactRequest{ContactRequest: &wire.ContactRequest{Message: "add me"}}},
		{Kind: &wire.Payload_Signal{Signal: &wire.Signal{Kind: wire.Signal_NUDGE}}},
		{Kind: &wire.Payload_GroupEvent{GroupEvent: &wire.GroupEvent{Id: "e", Author: "bob"}}},
		{Kind: &wire.Payload_FileOffer{FileOffer: &wire.FileOffer{Name: "x"}}},
		{Kind: &wire.Payload_Receipt{Receipt: &wire.Receipt{Ids: []string{"m"}}}},
	} {
		raw, err := proto.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, true)
		f.Add(raw, false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, fromContact bool) {
		var p wire.Payload
		if proto.Unmarshal(raw, &p) != nil {
			return // the security stage refuses what does not decode
		}
		from := mallory
		if fromContact {
			from = bob
		}
		_ = s.Process(from, "fuzz", 0, &p, nil)
		if !fromContact {
			if h, err := s.store.History("mallory", 10, ""); err != nil || len(h) != 0 {
				t.Fatalf("a stranger's payload reached the history: %v, %v", h, err)
			}
			if c, err := s.store.Contact("mallory"); err == nil && api.Relation(c.Relation) != api.RelationPendingIn {
				t.Fatalf("a stranger became %q", c.Relation)
			}
		}
	})
}

// TestMailDoesNotMoveDevice: a payload from a contact's other device moves
// our record of the contact to that device when it came over the device's
// own stream, never when it came out of a mailbox — anyone can put an item
// carrying an old (say, revoked) device's ticket into our mailbox.
func TestMailDoesNotMoveDevice(t *testing.T) {
	alice := newTestNode(t, testServer(t), "alice")
	alice.register()
	alice.login()
	s, err := alice.current()
	if err != nil {
		t.Fatal(err)
	}
	current, other := newDevice(t), newDevice(t)
	if err := s.store.PutContact(store.Contact{Username: "bob", Relation: string(api.RelationAccepted), PeerID: current.String()}); err != nil {
		t.Fatal(err)
	}
	from := &ticket.Ticket{Username: "bob", Peer: other, Server: s.tk().Server, BoxKey: make([]byte, 32)}
	chat := func(text string) *wire.Payload {
		return &wire.Payload{SentUnixMilli: s.n.cfg.Now().UnixMilli(), Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: text}}}
	}
	var backlog []store.Message
	if err := s.Process(from, "mailed", 0, chat("from the mailbox"), &backlog); err != nil {
		t.Fatal(err)
	}
	if len(backlog) != 1 {
		t.Fatalf("the mailed chat message was not taken: %v", backlog)
	}
	if c, _ := s.store.Contact("bob"); c.PeerID != current.String() {
		t.Fatalf("mail moved bob to device %s", c.PeerID)
	}
	if err := s.Process(from, "direct", 0, chat("over my own stream"), nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.store.Contact("bob"); c.PeerID != other.String() {
		t.Fatalf("a direct stream from bob's new device left him at %s", c.PeerID)
	}
}

// newDevice is the peer ID of a new device key.
func newDevice(tb testing.TB) peer.ID {
	tb.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := peer.IDFromPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
