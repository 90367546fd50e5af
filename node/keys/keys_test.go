package keys

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/api"
	"eserver/node/payload"
	"eserver/node/ratchet"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// device is one side: a Keys over a real store and a libp2p host that
// listens nowhere (these tests seal and open; nothing is dialled).
type device struct {
	*Keys
	st   *store.Store
	h    host.Host
	tick *ticket.Ticket
	key  crypto.PrivKey
	box  *ecdh.PrivateKey

	mu     sync.Mutex
	events []api.SecurityEvent
}

func (d *device) Emit(e api.Event) {
	if e.Security != nil {
		d.mu.Lock()
		d.events = append(d.events, *e.Security)
		d.mu.Unlock()
	}
}

// told returns the security events d's front ends heard of.
func (d *device) told() []api.SecurityEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]api.SecurityEvent(nil), d.events...)
}

func (d *device) Store() *store.Store                                    { return d.st }
func (d *device) Libp2p() host.Host                                      { return d.h }
func (d *device) Ticket() *ticket.Ticket                                 { return d.tick }
func (d *device) Me() string                                             { return d.tick.Username }
func (d *device) AccountKey() ed25519.PublicKey                          { return nil }
func (d *device) Now() time.Time                                         { return time.Now() }
func (d *device) Log() *slog.Logger                                      { return slog.New(slog.DiscardHandler) }
func (d *device) HomesOf(string) []peer.AddrInfo                         { return nil }
func (d *device) ConnectHome(context.Context, peer.AddrInfo) error       { return errors.New("offline") }
func (d *device) UpdateContact(string, func(*store.Contact) error) error { return nil }

func newDevice(t testing.TB, name string) *device {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	box, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st := storetest.Open(t)
	d := &device{st: st, h: h, key: key, box: box, tick: &ticket.Ticket{Username: name, Peer: h.ID(), BoxKey: box.PublicKey().Bytes()}}
	if d.Keys, err = New(d, key, box); err != nil {
		t.Fatal(err)
	}
	return d
}

func entry(id, text string) store.OutboxEntry {
	return store.OutboxEntry{ID: id, Payload: []byte(text)}
}

// TestV1RoundTrip: with no ratchet session, envelopes go in v1 boxes, and
// only the named sender's box opens.
func TestV1RoundTrip(t *testing.T) {
	alice, bob, eve := newDevice(t, "alice"), newDevice(t, "bob"), newDevice(t, "eve")
	envs, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m1", "hello")})
	if err != nil {
		t.Fatal(err)
	}
	if envs[0].Scheme != schemeV1 {
		t.Fatalf("scheme %d, want v1", envs[0].Scheme)
	}
	plain, err := bob.Open(alice.tick, envs[0])
	if err != nil || string(plain) != "hello" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	if _, err := bob.Open(eve.tick, envs[0]); err == nil {
		t.Fatal("alice's box opened as eve's")
	}
}

// TestRatchet: once alice holds a session started from bob's bundle, her
// envelopes are ratchet messages; bob answers the first by starting his
// side, opens each once, and tells a lost session apart from a forgery.
func TestRatchet(t *testing.T) {
	alice, bob := newDevice(t, "alice"), newDevice(t, "bob")
	b, err := bob.currentBundle()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ratchet.Initiate(alice.id, bob.h.ID(), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.saveSession(bob.h.ID(), newSessionID(), sess); err != nil {
		t.Fatal(err)
	}
	envs, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m1", "one"), entry("m2", "two")})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"one", "two"} {
		if envs[i].Scheme != schemeRatchet {
			t.Fatalf("envelope %d: scheme %d, want ratchet", i, envs[i].Scheme)
		}
		plain, err := bob.Open(alice.tick, envs[i])
		if err != nil || string(plain) != want {
			t.Fatalf("envelope %d: Open = %q, %v", i, plain, err)
		}
	}
	if _, err := bob.Open(alice.tick, envs[1]); !errors.Is(err, ratchet.ErrDuplicate) {
		t.Fatalf("replayed envelope: %v, want ErrDuplicate", err)
	}
	// The AD binds the envelope ID: a ratchet message under another ID
	// does not open.
	more, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m3", "three")})
	if err != nil {
		t.Fatal(err)
	}
	moved := &wire.Envelope{Id: "other", Sealed: more[0].Sealed, Scheme: more[0].Scheme}
	if _, err := bob.Open(alice.tick, moved); err == nil {
		t.Fatal("a ratchet message opened under another envelope ID")
	}
	// Bob answers, which settles alice's session out of its first flight
	// (until then each of her messages carries the session start).
	reply, err := bob.Seal(alice.tick, []store.OutboxEntry{entry("r1", "ok")})
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := alice.Open(bob.tick, reply[0]); err != nil || string(plain) != "ok" {
		t.Fatalf("alice opened bob's reply: %q, %v", plain, err)
	}
	// Bob loses his sessions: alice's next message is answered with
	// session_reset, so she starts over rather than failing the message.
	if err := bob.Reset(alice.h.ID()); err != nil {
		t.Fatal(err)
	}
	later, err := alice.Seal(bob.tick, []store.OutboxEntry{entry("m4", "four")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Open(alice.tick, later[0]); !errors.Is(err, payload.ErrSessionReset) {
		t.Fatalf("message in a lost session: %v, want ErrSessionReset", err)
	}
}

// TestSessionStartNamesTheTicketsKey: a session start is accepted only
// from the identity key the sender's ticket names.
func TestSessionStartNamesTheTicketsKey(t *testing.T) {
	alice, bob, eve := newDevice(t, "alice"), newDevice(t, "bob"), newDevice(t, "eve")
	b, err := bob.currentBundle()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ratchet.Initiate(eve.id, bob.h.ID(), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := eve.saveSession(bob.h.ID(), newSessionID(), sess); err != nil {
		t.Fatal(err)
	}
	envs, err := eve.Seal(bob.tick, []store.OutboxEntry{entry("m1", "I am alice")})
	if err != nil {
		t.Fatal(err)
	}
	forged := *alice.tick
	forged.Peer = eve.h.ID() // eve's device, alice's name and box key
	if _, err := bob.Open(&forged, envs[0]); err == nil {
		t.Fatal("a session start with eve's identity opened as alice's")
	}
}

// FuzzOpen: whatever arrives as an envelope — any scheme, any bytes — is
// refused with an error, never a panic, and never opens.
func FuzzOpen(f *testing.F) {
	alice, bob := newDevice(f, "alice"), newDevice(f, "bob")
	f.Add(uint32(0), []byte("x"))
	f.Add(uint32(2), []byte{0, 1, 2, 3})
	f.Add(uint32(7), []byte{})
	f.Fuzz(func(t *testing.T, scheme uint32, sealed []byte) {
		if plain, err := bob.Open(alice.tick, &wire.Envelope{Id: "m", Sealed: sealed, Scheme: scheme}); err == nil {
			t.Fatalf("random bytes opened: %q", plain)
		}
	})
}
