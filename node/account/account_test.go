package account

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"eserver/node/ticket"
)

func exportKey(b byte) []byte { return bytes.Repeat([]byte{b}, 64) }

// TestSeal: the identity opens under the export key and username it was
// sealed for, and under nothing else; a damaged seal does not open.
func TestSeal(t *testing.T) {
	key, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := Seal(exportKey(1), "alice", key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(exportKey(1), "alice", sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Fatal("opened another key")
	}
	if bytes.Contains(sealed, key.Seed()) {
		t.Fatal("the seed is in the seal")
	}
	again, _ := Seal(exportKey(1), "alice", key)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one key are equal: no fresh nonce")
	}
	damaged := bytes.Clone(sealed)
	damaged[len(damaged)-1] ^= 1
	for _, c := range []struct {
		name     string
		export   []byte
		username string
		sealed   []byte
	}{
		{"another password", exportKey(2), "alice", sealed},
		{"another account", exportKey(1), "bob", sealed},
		{"damaged", exportKey(1), "alice", damaged},
		{"truncated", exportKey(1), "alice", sealed[:len(sealed)-1]},
		{"empty", exportKey(1), "alice", nil},
		{"another format", exportKey(1), "alice", append([]byte{9}, sealed[1:]...)},
		{"short export key", exportKey(1)[:16], "alice", sealed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Open(c.export, c.username, c.sealed); !errors.Is(err, ErrSealed) {
				t.Fatalf("Open: %v, want ErrSealed", err)
			}
		})
	}
}

func newDevice(t *testing.T, box byte) *ticket.Ticket {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return &ticket.Ticket{Username: "alice", Peer: p, BoxKey: bytes.Repeat([]byte{box}, 32)}
}

func list(t *testing.T, key ed25519.PrivateKey, version uint64, ts ...*ticket.Ticket) *ticket.Devices {
	t.Helper()
	d := ticket.Devices{Username: "alice", Version: version, Issued: time.Unix(1_800_000_000, 0)}
	for _, tk := range ts {
		d.Devices = append(d.Devices, ticket.Device{Peer: tk.Peer, BoxKey: tk.BoxKey})
	}
	sd, err := ticket.SignDevices(key, d)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ticket.VerifyDevices(sd)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJudge: the rules by which a contact's device is accepted, and what
// is kept of the contact's account afterwards.
func TestJudge(t *testing.T) {
	key, _ := Generate()
	other, _ := Generate()
	pub := key.Public().(ed25519.PublicKey)
	laptop, desktop, phone := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	v1 := list(t, key, 1, laptop)
	v2 := list(t, key, 2, laptop, desktop)
	v3 := list(t, key, 3, desktop) // the laptop removed
	forged := list(t, other, 9, phone)
	bobs := list(t, key, 4, laptop)
	bobs.Username = "bob"

	for _, c := range []struct {
		name      string
		was       Known
		presented *ticket.Devices
		tk        *ticket.Ticket
		want      error
		keep      *ticket.Devices
		changed   bool
		updated   bool
	}{
		{"nothing known, nothing presented: as before identities", Known{}, nil, phone, nil, nil, false, false},
		{"first list pins the identity", Known{}, v1, laptop, nil, v1, false, true},
		{"first list lacks the device", Known{}, v1, desktop, ErrNotListed, nil, false, false},
		{"a device added under the pinned identity", Known{pub, v1}, v2, desktop, nil, v2, false, true},
		{"a device not in the newest list known", Known{pub, v1}, nil, desktop, ErrNotListed, v1, false, false},
		{"a listed device without a list", Known{pub, v2}, nil, desktop, nil, v2, false, false},
		{"an older list does not bring a removed device back", Known{pub, v3}, v2, laptop, ErrNotListed, v3, false, false},
		{"an older list from a listed device changes nothing", Known{pub, v3}, v2, desktop, nil, v3, false, false},
		{"the removed device itself", Known{pub, v3}, nil, laptop, ErrNotListed, v3, false, false},
		{"a new identity is accepted with a warning", Known{pub, v2}, forged, phone, nil, forged, true, true},
		{"another account's list", Known{pub, v2}, bobs, laptop, ticket.ErrOtherAccount, v2, false, false},
		{"another box key than listed", Known{pub, v2}, nil, &ticket.Ticket{Username: "alice", Peer: laptop.Peer, BoxKey: phone.BoxKey}, ErrNotListed, v2, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := Judge(c.was, c.presented, c.tk)
			if !errors.Is(err, c.want) {
				t.Fatalf("Judge: %v, want %v", err, c.want)
			}
			if v.Devices != c.keep || v.Changed != c.changed || v.Updated != c.updated {
				t.Fatalf("verdict: list v%d changed %v updated %v; want v%d %v %v",
					version(v.Devices), v.Changed, v.Updated, version(c.keep), c.changed, c.updated)
			}
			if c.keep != nil && !v.Key.Equal(c.keep.AccountKey) {
				t.Fatal("kept a key that did not sign the kept list")
			}
		})
	}
}

func version(d *ticket.Devices) uint64 {
	if d == nil {
		return 0
	}
	return d.Version
}
