package backup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"eserver/node/wire"
)

func testKey(t testing.TB, seed byte) []byte {
	t.Helper()
	export := bytes.Repeat([]byte{seed}, 64)
	k, err := DeriveKey(export)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sampleList() []Entry {
	return []Entry{
		{Username: "zelda", Relation: "accepted", MyToken: bytes.Repeat([]byte{1}, 16), TheirToken: bytes.Repeat([]byte{2}, 16), PeerID: "12D3KooWKoi8b6sQUPNknAjUCkCWTzZ6KXV3VWKkwn8zAgEvHj3b",
			Group: "Friends", Alias: "Zel"},
		{Username: "bob", Relation: "pending-out", MyToken: bytes.Repeat([]byte{3}, 16)},
		{Username: "mallory", Relation: "blocked"},
	}
}

func TestDeriveKey(t *testing.T) {
	export := bytes.Repeat([]byte{7}, 64)
	k, err := DeriveKey(export)
	if err != nil || len(k) != KeySize {
		t.Fatalf("key of %d bytes, %v", len(k), err)
	}
	// HKDF-SHA256 with no salt: extract is HMAC(zeros, ikm); a second
	// derivation must agree, and a label change must not.
	k2, _ := DeriveKey(export)
	if !bytes.Equal(k, k2) {
		t.Fatal("derivation is not deterministic")
	}
	if bytes.Equal(k, export[:KeySize]) {
		t.Fatal("the key is the export key")
	}
	other, _ := DeriveKey(append(bytes.Repeat([]byte{7}, 63), 8))
	if bytes.Equal(k, other) {
		t.Fatal("different export keys give one backup key")
	}
	if _, err := DeriveKey(make([]byte, 31)); !errors.Is(err, ErrKey) {
		t.Fatalf("short export key: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	for _, list := range [][]Entry{nil, sampleList()} {
		blob, err := Seal(key, "alice", 42, State{Entries: list})
		if err != nil {
			t.Fatal(err)
		}
		v, st, err := Open(key, "alice", blob)
		got := st.Entries
		if err != nil {
			t.Fatal(err)
		}
		if v != 42 {
			t.Fatalf("version %d, want 42", v)
		}
		if len(list) == 0 {
			if len(got) != 0 {
				t.Fatalf("empty list came back as %v", got)
			}
			continue
		}
		// Empty tokens come back as nil, which is what the list had.
		if !reflect.DeepEqual(got, list) {
			t.Fatalf("got %+v\nwant %+v", got, list)
		}
	}
	// Two seals of one list differ (fresh nonce) and both open.
	a, _ := Seal(key, "alice", 1, State{Entries: sampleList()})
	b, _ := Seal(key, "alice", 1, State{Entries: sampleList()})
	if bytes.Equal(a, b) {
		t.Fatal("two seals are identical: nonce reused")
	}
}

func TestPlaintextNotInBlob(t *testing.T) {
	blob, err := Seal(testKey(t, 1), "alice", 1, State{Entries: sampleList()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"zelda", "mallory", "accepted", "12D3KooW", "alice"} {
		if bytes.Contains(blob, []byte(s)) {
			t.Fatalf("%q is in the blob", s)
		}
	}
	if bytes.Contains(blob, bytes.Repeat([]byte{1}, 16)) {
		t.Fatal("a token is in the blob")
	}
}

func TestWrongKey(t *testing.T) {
	blob, err := Seal(testKey(t, 1), "alice", 3, State{Entries: sampleList()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(testKey(t, 2), "alice", blob); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong key: %v", err)
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := Seal(make([]byte, n), "alice", 1, State{}); !errors.Is(err, ErrKey) {
			t.Fatalf("seal with a %d-byte key: %v", n, err)
		}
		if _, _, err := Open(make([]byte, n), "alice", blob); !errors.Is(err, ErrKey) {
			t.Fatalf("open with a %d-byte key: %v", n, err)
		}
	}
}

// TestOtherUsersBlob: a supernode handing alice's blob to bob (even were the
// key shared) or relabelling it fails to open.
func TestOtherUsersBlob(t *testing.T) {
	key := testKey(t, 1)
	blob, err := Seal(key, "alice", 3, State{Entries: sampleList()})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "alic", "alice ", ""} {
		if _, _, err := Open(key, u, blob); !errors.Is(err, ErrOpen) {
			t.Fatalf("alice's blob opened as %q's: %v", u, err)
		}
	}
}

func TestTampering(t *testing.T) {
	key := testKey(t, 1)
	blob, err := Seal(key, "alice", 5, State{Entries: sampleList()})
	if err != nil {
		t.Fatal(err)
	}
	// Every byte flipped makes the blob fail; byte 0 is the format.
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x01
		_, _, err := Open(key, "alice", bad)
		want := ErrOpen
		if i == 0 {
			want = ErrMalformed
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: %v, want %v", i, err, want)
		}
	}
	// Rolling the clear version back (or forward) without the key fails.
	for _, v := range []uint64{4, 6, 1} {
		bad := bytes.Clone(blob)
		for i := range 8 {
			bad[1+i] = byte(v >> (56 - 8*i))
		}
		if _, _, err := Open(key, "alice", bad); !errors.Is(err, ErrOpen) {
			t.Fatalf("version relabelled to %d: %v", v, err)
		}
	}
	// Truncations and extensions.
	for _, n := range []int{0, 1, Overhead - 1, Overhead, len(blob) - 1} {
		if _, _, err := Open(key, "alice", blob[:n]); err == nil {
			t.Fatalf("a blob cut to %d bytes opened", n)
		}
	}
	if _, _, err := Open(key, "alice", append(bytes.Clone(blob), 0)); !errors.Is(err, ErrOpen) {
		t.Fatalf("an extended blob: %v", err)
	}
}

func TestVersionRange(t *testing.T) {
	key := testKey(t, 1)
	for _, v := range []uint64{0, MaxVersion + 1, 1<<64 - 1} {
		if _, err := Seal(key, "alice", v, State{}); !errors.Is(err, ErrVersion) {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	blob, err := Seal(key, "alice", MaxVersion, State{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, err := Open(key, "alice", blob); err != nil || v != MaxVersion {
		t.Fatalf("version %d, %v", v, err)
	}
}

// TestPaddingHidesLength: lists of nearby lengths seal to one size, and the
// sizes come from a short list of buckets.
func TestPaddingHidesLength(t *testing.T) {
	key := testKey(t, 1)
	sizes := map[int]bool{}
	for n := range 6 {
		blob, err := Seal(key, "alice", 1, State{Entries: sampleList()[:n%4]})
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(blob)] = true
	}
	if len(sizes) != 1 {
		t.Fatalf("short lists seal to %d sizes: %v", len(sizes), sizes)
	}
	for size := range sizes {
		if size != 1<<10+Overhead {
			t.Fatalf("a short list seals to %d bytes, want %d", size, 1<<10+Overhead)
		}
	}
	if wire.MaxContactsPlain%padStep != 0 || wire.MaxContactsPlain+Overhead > wire.MaxContactsBlob {
		t.Fatal("the largest padded list does not fit wire.MaxContactsBlob")
	}
	for _, b := range [][]byte{nil, {0}, {0x80, 1}, {1, 0, 0}} {
		if _, err := unpad(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("unpad(%x): %v", b, err)
		}
	}
}

// maxEntry is a contact with every field at its longest.
func maxEntry(i int) Entry {
	return Entry{
		Username:   fmt.Sprintf("%s%08d", strings.Repeat("u", wire.MaxUsername-8), i),
		Relation:   "pending-out",
		MyToken:    bytes.Repeat([]byte{1}, 16),
		TheirToken: bytes.Repeat([]byte{2}, 16),
		PeerID:     "12D3KooWKoi8b6sQUPNknAjUCkCWTzZ6KXV3VWKkwn8zAgEvHj3b",
		// Change times of this century take 6 bytes each.
		RelationAt: 1 << 41, MyTokenAt: 1 << 41, TheirTokenAt: 1 << 41, PeerIDAt: 1 << 41,
	}
}

// TestSizeLimit: 5,000 contacts of the longest kind (supernode.MaxAllowed)
// fit; a list that does not is refused with ErrTooLarge, not truncated.
func TestSizeLimit(t *testing.T) {
	key := testKey(t, 1)
	list := make([]Entry, 5000)
	for i := range list {
		list[i] = maxEntry(i)
	}
	blob, err := Seal(key, "alice", 1, State{Entries: list})
	if err != nil {
		t.Fatalf("5,000 contacts: %v", err)
	}
	t.Logf("5,000 of the longest contacts, with change times: a blob of %d bytes", len(blob))
	if len(blob) > wire.MaxContactsBlob {
		t.Fatalf("5,000 contacts seal to %d bytes, limit %d", len(blob), wire.MaxContactsBlob)
	}
	if _, got, err := Open(key, "alice", blob); err != nil || len(got.Entries) != 5000 || !reflect.DeepEqual(got.Entries[4999], list[4999]) {
		t.Fatalf("open: %d entries, %v", len(got.Entries), err)
	}
	for len(list) < 10000 {
		list = append(list, maxEntry(len(list)))
	}
	if _, err := Seal(key, "alice", 1, State{Entries: list}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("10,000 contacts: %v", err)
	}
	// An oversized blob is refused before any decryption.
	if _, _, err := Open(key, "alice", make([]byte, wire.MaxContactsBlob+1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("oversized blob: %v", err)
	}
	// Invalid UTF-8 in a name is an encoding error, not a broken blob.
	if _, err := Seal(key, "alice", 1, State{Entries: []Entry{{Username: "\xff", Relation: "accepted"}}}); err == nil {
		t.Fatal("sealed a name that is not UTF-8")
	}
}

// FuzzOpen: whatever the bytes, Open fails cleanly unless they are a blob
// Seal made; and the decoder behind the tag, fed arbitrary plaintext,
// never panics and round-trips what it accepts.
func FuzzOpen(f *testing.F) {
	key := testKey(f, 1)
	seed, err := Seal(key, "alice", 9, State{Entries: sampleList()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{format})
	f.Add(make([]byte, Overhead))
	f.Add(pad([]byte{10, 5, 10, 3, 'b', 'o', 'b'}))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, list, err := Open(key, "alice", data)
		if err == nil {
			// Only the seed opens. (The fuzzing workers seal their own seed,
			// with another nonce, so compare what it holds.)
			if v != 9 || !reflect.DeepEqual(list.Entries, sampleList()) {
				t.Fatalf("forged blob opened: version %d, %d entries", v, len(list.Entries))
			}
		} else if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		got, err := decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode: unexpected error kind: %v", err)
			}
			return
		}
		// Accepted plaintext seals and opens to the same entries.
		blob, err := Seal(key, "alice", 1, got)
		if err != nil {
			return // e.g. invalid UTF-8 that proto.Unmarshal let through: never in a sealed blob
		}
		_, again, err := Open(key, "alice", blob)
		if err != nil || len(again.Entries) != len(got.Entries) || len(again.Rooms) != len(got.Rooms) {
			t.Fatalf("re-sealed list does not open: %v", err)
		}
	})
}

func TestHashDomain(t *testing.T) {
	// The key is not a plain hash of the export key either.
	export := bytes.Repeat([]byte{7}, 64)
	h := sha256.Sum256(export)
	k, _ := DeriveKey(export)
	if bytes.Equal(k, h[:]) {
		t.Fatal("the key is SHA-256 of the export key")
	}
}
