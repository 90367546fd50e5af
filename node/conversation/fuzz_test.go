package conversation

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

// FuzzGroupEvent: whatever a contact passes on as a conversation event, its
// decoding and checks neither panic nor let through an event whose
// signature does not verify.
func FuzzGroupEvent(f *testing.F) {
	w := newWorld(f)
	alice := w.user("alice")
	c := New(newHost(f, w, w.user("bob"), "alice"))
	genuine := event(f, alice, []string{"alice", "bob"}, nil)
	for _, ev := range []*wire.GroupEvent{
		genuine,
		event(f, alice, []string{"alice", "bob"}, func(e *wire.GroupEvent) { e.Kind = &wire.GroupEvent_Joined{Joined: "bob"} }),
		event(f, alice, []string{"alice"}, func(e *wire.GroupEvent) { e.Kind = &wire.GroupEvent_Left{Left: true} }),
		{},
	} {
		raw, err := proto.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev wire.GroupEvent
		if err := proto.Unmarshal(raw, &ev); err != nil {
			return
		}
		if c.checkEvent(&ev) != nil {
			return
		}
		// Only alice holds a ticket of this server: whatever passed was
		// signed by her device.
		pub := alice.key.GetPublic()
		if ok, err := pub.Verify(signingBytes(&ev), ev.Signature); err != nil || !ok || ev.Author != "alice" {
			t.Fatalf("an event alice did not sign passed: %+v", &ev)
		}
	})
}
