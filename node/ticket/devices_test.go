package ticket

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/wire"
)

func accountKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func box(b byte) []byte {
	k := make([]byte, 32)
	k[0] = b
	return k
}

// TestDevices: a signed list verifies, names its devices in peer order
// whatever order they were given in, and Check accepts exactly the
// listed devices of its account with the box keys it names.
func TestDevices(t *testing.T) {
	key := accountKey(t)
	_, d1 := newKey(t)
	_, d2 := newKey(t)
	_, d3 := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	sd, err := SignDevices(key, Devices{Username: "alice", Version: 3, Issued: now,
		Devices: []Device{{Peer: d2, BoxKey: box(2), Added: now}, {Peer: d1, BoxKey: box(1), Added: now}, {Peer: d3, Added: now}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := VerifyDevices(sd)
	if err != nil {
		t.Fatal(err)
	}
	if d.Username != "alice" || d.Version != 3 || !d.Issued.Equal(now) || !d.AccountKey.Equal(key.Public()) || d.Signed != sd || len(d.Devices) != 3 {
		t.Fatalf("verified list: %+v", d)
	}
	for i := 1; i < len(d.Devices); i++ {
		if string(d.Devices[i-1].Peer) >= string(d.Devices[i].Peer) {
			t.Fatal("devices not in peer order")
		}
	}
	_, stranger := newKey(t)
	for _, c := range []struct {
		name string
		tk   Ticket
		want error
	}{
		{"listed", Ticket{Username: "alice", Peer: d1, BoxKey: box(1)}, nil},
		{"listed without a box key", Ticket{Username: "alice", Peer: d3, BoxKey: box(9)}, nil},
		{"not listed", Ticket{Username: "alice", Peer: stranger, BoxKey: box(1)}, ErrNotListed},
		{"another box key", Ticket{Username: "alice", Peer: d2, BoxKey: box(7)}, ErrNotListed},
		{"another account", Ticket{Username: "bob", Peer: d1, BoxKey: box(1)}, ErrOtherAccount},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := d.Check(&c.tk); !errors.Is(err, c.want) {
				t.Fatalf("Check: %v, want %v", err, c.want)
			}
		})
	}
	if got := d.Peers(); len(got) != 3 || !d.Has(d2) || d.Has(stranger) {
		t.Fatalf("Peers %v, Has wrong", got)
	}
	var none *Devices
	if none.Has(d1) || none.Peers() != nil {
		t.Fatal("a nil list names devices")
	}
}

// TestDevicesRefused: every way a list can fail to be a well-formed list
// signed by the key it names.
func TestDevicesRefused(t *testing.T) {
	key := accountKey(t)
	_, d1 := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	good := func() *wire.AccountDevices {
		return &wire.AccountDevices{Username: "alice", AccountKey: key.Public().(ed25519.PublicKey), Version: 1, IssuedUnix: now.Unix(),
			Devices: []*wire.AccountDevice{{PeerId: []byte(d1), BoxKey: box(1)}}}
	}
	sign := func(w *wire.AccountDevices) *wire.SignedAccountDevices {
		raw, err := proto.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		return &wire.SignedAccountDevices{Devices: raw, Signature: ed25519.Sign(key, devicesMessage(raw))}
	}
	many := func() []*wire.AccountDevice {
		var ds []*wire.AccountDevice
		for range wire.MaxAccountDevices + 1 {
			_, p := newKey(t)
			ds = append(ds, &wire.AccountDevice{PeerId: []byte(p)})
		}
		return ds
	}
	for _, c := range []struct {
		name string
		sd   func() *wire.SignedAccountDevices
		want error
	}{
		{"nil", func() *wire.SignedAccountDevices { return nil }, ErrMalformed},
		{"no signature", func() *wire.SignedAccountDevices { s := sign(good()); s.Signature = nil; return s }, ErrMalformed},
		{"altered", func() *wire.SignedAccountDevices {
			s := sign(good())
			s.Devices[len(s.Devices)-1] ^= 1
			return s
		}, ErrBadSignature},
		{"signed by another key", func() *wire.SignedAccountDevices {
			w := good()
			raw, _ := proto.Marshal(w)
			return &wire.SignedAccountDevices{Devices: raw, Signature: ed25519.Sign(accountKey(t), devicesMessage(raw))}
		}, ErrBadSignature},
		{"without the context", func() *wire.SignedAccountDevices {
			raw, _ := proto.Marshal(good())
			return &wire.SignedAccountDevices{Devices: raw, Signature: ed25519.Sign(key, raw)}
		}, ErrBadSignature},
		{"bad username", func() *wire.SignedAccountDevices { w := good(); w.Username = "x"; return sign(w) }, ErrMalformed},
		{"short key", func() *wire.SignedAccountDevices { w := good(); w.AccountKey = w.AccountKey[:31]; return sign(w) }, ErrMalformed},
		{"version 0", func() *wire.SignedAccountDevices { w := good(); w.Version = 0; return sign(w) }, ErrMalformed},
		{"no devices", func() *wire.SignedAccountDevices { w := good(); w.Devices = nil; return sign(w) }, ErrMalformed},
		{"repeated device", func() *wire.SignedAccountDevices {
			w := good()
			w.Devices = append(w.Devices, w.Devices[0])
			return sign(w)
		}, ErrMalformed},
		{"bad peer ID", func() *wire.SignedAccountDevices { w := good(); w.Devices[0].PeerId = []byte{1, 2}; return sign(w) }, ErrMalformed},
		{"bad box key", func() *wire.SignedAccountDevices { w := good(); w.Devices[0].BoxKey = box(1)[:16]; return sign(w) }, ErrMalformed},
		{"too many devices", func() *wire.SignedAccountDevices { w := good(); w.Devices = many(); return sign(w) }, ErrMalformed},
		{"too large", func() *wire.SignedAccountDevices {
			return &wire.SignedAccountDevices{Devices: make([]byte, wire.MaxAccountDevicesList+1), Signature: make([]byte, 64)}
		}, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := VerifyDevices(c.sd()); !errors.Is(err, c.want) {
				t.Fatalf("VerifyDevices: %v, want %v", err, c.want)
			}
		})
	}
	if _, err := SignDevices(key, Devices{Username: "alice", Version: 1}); err == nil || !strings.Contains(err.Error(), "devices") {
		t.Fatalf("signing an empty list: %v", err)
	}
}

// FuzzVerifyDevices: any bytes are a list or an error, never a panic, and
// a list that verifies names valid, distinct devices.
func FuzzVerifyDevices(f *testing.F) {
	key := accountKey(f)
	_, d1 := newKey(f)
	sd, err := SignDevices(key, Devices{Username: "alice", Version: 1, Devices: []Device{{Peer: d1, BoxKey: box(1)}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sd.Devices, sd.Signature)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, raw, sig []byte) {
		d, err := VerifyDevices(&wire.SignedAccountDevices{Devices: raw, Signature: sig})
		if err != nil {
			return
		}
		seen := map[peer.ID]bool{}
		for _, dv := range d.Devices {
			if seen[dv.Peer] {
				t.Fatal("a device twice")
			}
			seen[dv.Peer] = true
		}
	})
}
