package account

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/store/storetest"
	"eserver/node/ticket"
	"eserver/node/wire"
)

// host is the node's side for the capability: a real store, and the
// contact lock's read-modify-write.
type host struct {
	st      *store.Store
	mu      sync.Mutex
	now     time.Time
	changed []string
	removed []string
}

func (h *host) Store() *store.Store { return h.st }
func (h *host) Me() string          { return "me" }
func (h *host) DevicesRemoved(username string, removed []peer.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removed = append(h.removed, fmt.Sprint(username, removed))
}
func (h *host) Now() time.Time    { return h.now }
func (h *host) Log() *slog.Logger { return slog.New(slog.DiscardHandler) }
func (h *host) UpdateContact(username string, change func(*store.Contact) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.st.Contact(username)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", api.ErrNotContact, username)
	}
	if err != nil {
		return err
	}
	if err := change(&c); err != nil {
		return err
	}
	h.changed = append(h.changed, username)
	return h.st.PutContact(c)
}

func newAccount(t *testing.T) (*Account, *host) {
	h := &host{st: storetest.Open(t), now: time.Unix(1_800_000_000, 0)}
	return New(h), h
}

// TestAdmit: what a contact's devices show is kept in its row — the first
// identity pinned, newer lists taken — and a device its account does not
// list is refused, over the kept list, whatever it presents; strangers are
// checked but nothing of them is kept.
func TestAdmit(t *testing.T) {
	a, h := newAccount(t)
	if err := h.st.PutContact(store.Contact{Username: "alice", Relation: "accepted"}); err != nil {
		t.Fatal(err)
	}
	key, _ := Generate()
	laptop, desktop, stranger := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	v1 := list(t, key, 1, laptop)
	v2 := list(t, key, 2, laptop, desktop)

	if err := a.Admit(laptop, nil); err != nil {
		t.Fatalf("no list anywhere: %v", err)
	}
	if len(h.changed) != 0 {
		t.Fatal("a row written with nothing learnt")
	}
	if err := a.Admit(laptop, v1.Signed); err != nil {
		t.Fatal(err)
	}
	c, _ := h.st.Contact("alice")
	k, err := a.Contact(c)
	if err != nil || k.Devices == nil || k.Devices.Version != 1 || !k.Key.Equal(key.Public()) || !c.KeyChanged.IsZero() {
		t.Fatalf("after the first list: %+v, %v, changed %v", k, err, c.KeyChanged)
	}
	if err := a.Admit(desktop, nil); !errors.Is(err, ErrNotListed) {
		t.Fatalf("a device the kept list lacks: %v", err)
	}
	if err := a.Admit(desktop, v2.Signed); err != nil {
		t.Fatal(err)
	}
	c, _ = h.st.Contact("alice")
	if k, _ := a.Contact(c); k.Devices.Version != 2 || !c.KeyChanged.IsZero() {
		t.Fatalf("a device added: list v%d, changed %v", k.Devices.Version, c.KeyChanged)
	}
	// The laptop removed: what waited for it is dropped, and it is refused.
	v3 := list(t, key, 3, desktop)
	if err := a.Admit(desktop, v3.Signed); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint("alice", []peer.ID{laptop.Peer}); len(h.removed) != 1 || h.removed[0] != want {
		t.Fatalf("removed devices told: %q, want %q", h.removed, want)
	}
	if err := a.Admit(laptop, v2.Signed); !errors.Is(err, ErrNotListed) {
		t.Fatalf("the removed laptop with an older list: %v", err)
	}
	forged := &wire.SignedAccountDevices{Devices: v2.Signed.Devices, Signature: make([]byte, 64)}
	if err := a.Admit(desktop, forged); !errors.Is(err, ErrBadList) {
		t.Fatalf("a list with a bad signature: %v", err)
	}
	if err := a.Admit(stranger, nil); !errors.Is(err, ErrNotListed) {
		t.Fatalf("a device no list names: %v", err)
	}
	// A new identity is taken, with the warning of a new safety number.
	other, _ := Generate()
	v9 := list(t, other, 9, stranger)
	h.now = h.now.Add(time.Hour)
	if err := a.Admit(stranger, v9.Signed); err != nil {
		t.Fatal(err)
	}
	c, _ = h.st.Contact("alice")
	if k, _ := a.Contact(c); !k.Key.Equal(other.Public()) || !c.KeyChanged.Equal(h.now) {
		t.Fatalf("a new identity: key %x, changed %v", k.Key, c.KeyChanged)
	}
	// Strangers: checked against what they show, nothing kept.
	carol := &ticket.Ticket{Username: "carol", Peer: laptop.Peer, BoxKey: laptop.BoxKey}
	if err := a.Admit(carol, nil); err != nil {
		t.Fatalf("a stranger without a list: %v", err)
	}
	if err := a.Admit(carol, v1.Signed); !errors.Is(err, ticket.ErrOtherAccount) {
		t.Fatalf("a stranger showing alice's list: %v", err)
	}
	if _, err := h.st.Contact("carol"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a row made for a stranger")
	}
}

// TestOwnIdentity: the identity adopted is kept across sessions with its
// newest list; an older list is not taken; the next version is signed
// with a device added or removed.
func TestOwnIdentity(t *testing.T) {
	a, h := newAccount(t)
	if ok, err := a.Load("alice"); ok || err != nil {
		t.Fatalf("Load before any: %v, %v", ok, err)
	}
	if a.Key() != nil || a.Devices() != nil || a.PublicKey() != nil {
		t.Fatal("an identity before any")
	}
	key, _ := Generate()
	laptop, desktop := newDevice(t, 1), newDevice(t, 2)
	v2 := list(t, key, 2, laptop, desktop)
	if err := a.Adopt("alice", key, v2.Signed); err != nil {
		t.Fatal(err)
	}
	if err := a.Adopt("alice", key, list(t, key, 1, laptop).Signed); err != nil || a.Own().Version != 2 {
		t.Fatalf("an older list: %v, holding v%d", err, a.Own().Version)
	}
	other, _ := Generate()
	if err := a.Adopt("alice", other, v2.Signed); !errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("a list of another key: %v", err)
	}
	if err := a.Adopt("bob", key, v2.Signed); !errors.Is(err, ErrWrongIdentity) {
		t.Fatalf("a list of another account: %v", err)
	}

	again := New(h)
	if ok, err := again.Load("alice"); !ok || err != nil || !again.Key().Equal(key) || again.Own().Version != 2 {
		t.Fatalf("Load: %v, %v", ok, err)
	}
	sd, err := again.Sign("alice", func(ds []ticket.Device) []ticket.Device { return WithoutDevice(ds, laptop.Peer) })
	if err != nil {
		t.Fatal(err)
	}
	d, err := ticket.VerifyDevices(sd)
	if err != nil || d.Version != 3 || d.Has(laptop.Peer) || !d.Has(desktop.Peer) {
		t.Fatalf("next version: %+v, %v", d, err)
	}
	phone := newDevice(t, 4)
	ds, added := WithDevice(d.Devices, phone, h.now)
	if !added || len(ds) != 2 {
		t.Fatal("WithDevice did not add")
	}
	if _, again := WithDevice(ds, phone, h.now); again {
		t.Fatal("WithDevice added a device twice")
	}
	raw, _ := proto.Marshal(sd)
	if err := h.st.PutAccountIdentity(store.AccountIdentity{Seed: key.Seed(), Devices: raw[:len(raw)-1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(h).Load("alice"); err == nil {
		t.Fatal("a damaged kept list loaded")
	}
}
