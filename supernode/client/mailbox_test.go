package client

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"eserver/supernode/internal/sntest"
)

func TestMailboxID(t *testing.T) {
	server := sntest.ID(t, sntest.Key(t))
	got := MailboxID(server, "bob")
	want := sha256.Sum256([]byte("eserver-mailbox-v1" + string(server) + "\x00bob"))
	if !bytes.Equal(got, want[:]) || len(got) != 32 {
		t.Fatalf("MailboxID = %x, want %x", got, want)
	}
	if bytes.Equal(got, MailboxID(server, "bob2")) || bytes.Equal(got, MailboxID(sntest.ID(t, sntest.Key(t)), "bob")) {
		t.Fatal("distinct users or servers share a mailbox ID")
	}
}

// TestDeviceMailboxID: a device mailbox ID is its own hash of all three
// inputs, length-prefixed, and never an account's mailbox ID: not the
// account's, and not that of a username spelled as the device's inputs.
func TestDeviceMailboxID(t *testing.T) {
	server := sntest.ID(t, sntest.Key(t))
	devA, devB := sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t))
	got := DeviceMailboxID(server, "bob", devA)
	in := []byte("eserver-device-mailbox-v1")
	for _, f := range []string{string(server), "bob", string(devA)} {
		in = append(in, byte(len(f))) // each shorter than 128: a one-byte varint
		in = append(in, f...)
	}
	if want := sha256.Sum256(in); !bytes.Equal(got, want[:]) || len(got) != MailboxIDSize {
		t.Fatalf("DeviceMailboxID = %x, want %x", got, want)
	}
	distinct := map[string]string{}
	for name, id := range map[string][]byte{
		"bob on A":                   got,
		"bob on B":                   DeviceMailboxID(server, "bob", devB),
		"bob2 on A":                  DeviceMailboxID(server, "bob2", devA),
		"bob on A, another server":   DeviceMailboxID(sntest.ID(t, sntest.Key(t)), "bob", devA),
		"bob's account":              MailboxID(server, "bob"),
		"a name spelled as bob on A": MailboxID(server, "bob\x00"+string(devA)),
		"no device":                  DeviceMailboxID(server, "bob", ""),
		"the device in the name":     DeviceMailboxID(server, "bob"+string(devA[:1]), devA[1:]),
	} {
		if other, ok := distinct[string(id)]; ok {
			t.Fatalf("%s and %s share a mailbox ID", name, other)
		}
		distinct[string(id)] = name
	}
}

func TestPadUnpad(t *testing.T) {
	buckets := []int{256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 128 << 10, 192 << 10}
	sizes := []int{0, 1}
	for _, b := range buckets {
		sizes = append(sizes, b-2, b-1, b)
	}
	next := func(n int) int {
		for _, b := range append(buckets, 256<<10) {
			if n < b {
				return b
			}
		}
		t.Fatalf("no bucket for %d", n)
		return 0
	}
	for _, n := range sizes {
		in := bytes.Repeat([]byte{0}, n) // zeros: the hardest content for a zero-stripping Unpad
		if n > 0 {
			in[0] = 0x80
		}
		p := Pad(in)
		if want := next(n); len(p) != want || PaddedSize(n) != want {
			t.Fatalf("Pad(%d bytes) is %d bytes (PaddedSize %d), want %d", n, len(p), PaddedSize(n), want)
		}
		out, err := Unpad(p)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("Unpad(Pad(%d bytes)) = %d bytes, %v", n, len(out), err)
		}
	}
	// Pad does not write into its input's spare capacity.
	in := make([]byte, 3, 300)
	_ = Pad(in)
	if in[:4][3] != 0 {
		t.Fatal("Pad wrote past its input")
	}
	for _, bad := range [][]byte{nil, {}, {0}, make([]byte, 256), {1, 2, 3}, {0x80, 1}, {0x81, 0, 0}, append(make([]byte, 255), 0x7f)} {
		if _, err := Unpad(bad); !errors.Is(err, ErrBadPadding) {
			t.Fatalf("Unpad(%x) = %v, want ErrBadPadding", bad, err)
		}
	}
}
