package keys

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/wire"
)

// restart is the device after a crash: a new Keys over the same store,
// with nothing of the old one's memory.
func (d *device) restart(t *testing.T) {
	t.Helper()
	k, err := New(d, d.key, d.box)
	if err != nil {
		t.Fatal(err)
	}
	d.Keys = k
}

// pair gives alice a session with bob's device (started from his bundle).
func pair(t *testing.T) (alice, bob *device) {
	t.Helper()
	alice, bob = newDevice(t, "alice"), newDevice(t, "bob")
	b, err := bob.currentBundle()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ratchet.Initiate(alice.id, bob.h.ID(), b)
	if err != nil {
		t.Fatal(err)
	}
	alice.mu.Lock()
	defer alice.mu.Unlock()
	if err := alice.saveSession(bob.h.ID(), newSessionID(), sess); err != nil {
		t.Fatal(err)
	}
	return alice, bob
}

// queue queues a chat entry for bob through Queue and returns it as
// stored, with its envelope.
func (d *device) queue(t *testing.T, to *device, id, text string) (store.OutboxEntry, error) {
	t.Helper()
	e := store.OutboxEntry{ID: id, Peer: to.tick.Username, Payload: []byte(text)}
	op, err := d.st.EnqueueOp(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	pend, err := d.Queue(to.h.ID(), &e, op)
	if err != nil {
		t.Fatal(err)
	}
	return e, pend.Wait()
}

func envelopeOf(t *testing.T, e store.OutboxEntry) *wire.Envelope {
	t.Helper()
	var env wire.Envelope
	if err := proto.Unmarshal(e.Sealed, &env); err != nil || env.Id != e.ID || env.Scheme != schemeRatchet {
		t.Fatalf("entry %s sealed as %v (%v)", e.ID, &env, err)
	}
	return &env
}

// TestQueueStoresStateWithEntry: an entry sealed when queued is stored
// with the session state that sealed it, in one transaction, so a crash
// right after can never seal another message under the same key; an entry
// whose write failed left nothing behind that a later one could collide
// with.
func TestQueueStoresStateWithEntry(t *testing.T) {
	alice, bob := pair(t)
	e1, err := alice.queue(t, bob, "m1", "one")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := alice.st.Outbox("bob")
	if err != nil || len(stored) != 1 || string(stored[0].Sealed) != string(e1.Sealed) || stored[0].SealedPeer != bob.h.ID().String() {
		t.Fatalf("outbox %+v (%v), want m1 with its envelope", stored, err)
	}
	if !alice.Current(bob.h.ID(), stored[0].SealedSession) {
		t.Fatal("the session that sealed m1 is not current")
	}
	alice.restart(t) // kill -9: only the store is left
	if !alice.Current(bob.h.ID(), stored[0].SealedSession) {
		t.Fatal("the session that sealed m1 did not survive the restart")
	}
	if _, err := alice.queue(t, bob, "m1", "same ID: refused by the outbox"); err == nil {
		t.Fatal("a second entry m1 was stored")
	}
	e2, err := alice.queue(t, bob, "m2", "two")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e    store.OutboxEntry
		want string
	}{{e1, "one"}, {e2, "two"}} {
		plain, err := bob.Open(alice.tick, envelopeOf(t, c.e))
		if err != nil || string(plain) != c.want {
			t.Fatalf("bob opened %s: %q, %v (a key used twice?)", c.e.ID, plain, err)
		}
	}
}

// TestOpenDirectPersist: a direct envelope's new state is in memory until
// Persist stores it with the batch; stored, it survives a restart, and the
// envelope is then a duplicate.
func TestOpenDirectPersist(t *testing.T) {
	alice, bob := pair(t)
	var envs []*wire.Envelope
	for _, id := range []string{"m1", "m2"} {
		e, err := alice.queue(t, bob, id, "text of "+id)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, envelopeOf(t, e))
	}
	// m1 starts bob's session: stored at once, as by Open.
	if _, err := bob.OpenDirect(alice.tick, envs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.OpenDirect(alice.tick, envs[1]); err != nil {
		t.Fatal(err)
	}
	bob.restart(t) // before Persist: m2's key was never stored as used
	if _, err := bob.OpenDirect(alice.tick, envs[0]); !errors.Is(err, ratchet.ErrDuplicate) {
		t.Fatalf("m1 after the restart: %v, want ErrDuplicate", err)
	}
	if _, err := bob.OpenDirect(alice.tick, envs[1]); err != nil {
		t.Fatalf("m2 again after a restart before Persist: %v", err)
	}
	pend, err := bob.Persist([]peer.ID{alice.h.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if err := pend.Wait(); err != nil {
		t.Fatal(err)
	}
	bob.restart(t)
	if _, err := bob.OpenDirect(alice.tick, envs[1]); !errors.Is(err, ratchet.ErrDuplicate) {
		t.Fatalf("m2 after Persist and a restart: %v, want ErrDuplicate", err)
	}
}
