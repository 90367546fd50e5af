package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

func unlocked(t *testing.T) *Store {
	t.Helper()
	s, _ := openTemp(t)
	return s
}

// TestSecretsLocked: before Unlock nothing secret is written or read.
func TestSecretsLocked(t *testing.T) {
	s, _ := openLocked(t)
	if err := s.PutSession(Session{PeerID: "p", ID: []byte{1}, State: []byte("x"), Used: time.Now()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("PutSession locked: %v", err)
	}
	if err := s.PutPrekeys([]Prekey{{Kind: PrekeySigned, ID: 1, Private: []byte("k")}}); !errors.Is(err, ErrLocked) {
		t.Fatalf("PutPrekeys locked: %v", err)
	}
	if err := s.Unlock([]byte("short")); err == nil {
		t.Fatal("Unlock accepted a short key")
	}
}

// TestSessions: sessions are sealed at rest, come back most recently used
// first, are capped per peer, and do not open under another key or in
// another row.
func TestSessions(t *testing.T) {
	s := unlocked(t)
	t0 := time.Now()
	secret := []byte("ratchet state: root key 0123456789abcdef")
	for i := range MaxSessionsPerPeer + 2 {
		ss := Session{PeerID: "bob-device", ID: []byte{byte(i)}, State: append(secret, byte(i)), Used: t0.Add(time.Duration(i) * time.Second)}
		if err := s.PutSession(ss); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSession(Session{PeerID: "carol-device", ID: []byte{9}, State: []byte("carol"), Used: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Sessions("bob-device")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxSessionsPerPeer {
		t.Fatalf("%d sessions kept, want %d", len(got), MaxSessionsPerPeer)
	}
	for i, ss := range got {
		want := byte(MaxSessionsPerPeer + 1 - i) // newest first; the two oldest dropped
		if ss.ID[0] != want || !bytes.Equal(ss.State, append(secret, want)) {
			t.Fatalf("session %d: id %v state %q, want id %d", i, ss.ID, ss.State, want)
		}
	}
	// Using an old session again makes it the newest.
	if err := s.PutSession(Session{PeerID: "bob-device", ID: []byte{3}, State: []byte("updated"), Used: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Sessions("bob-device"); got[0].ID[0] != 3 || string(got[0].State) != "updated" || len(got) != MaxSessionsPerPeer {
		t.Fatalf("after reuse: first %v %q, %d sessions", got[0].ID, got[0].State, len(got))
	}
	if got, _ := s.Sessions("carol-device"); len(got) != 1 {
		t.Fatalf("carol's sessions: %d", len(got))
	}

	// Nothing of the state is stored in the clear.
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM e2e_sessions WHERE instr(state, ?) > 0`, []byte("root key")).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d states stored in the clear (%v)", n, err)
	}
	// A state moved to another row does not open.
	if _, err := s.db.Exec(`UPDATE e2e_sessions SET state = (SELECT state FROM e2e_sessions WHERE peer_id = 'carol-device') WHERE peer_id = 'bob-device' AND session = x'03'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sessions("bob-device"); err == nil {
		t.Fatal("a state moved between rows opened")
	}
	// Another storage key is refused; forced in, it opens nothing.
	other := bytes.Repeat([]byte{4}, StorageKeySize)
	if err := s.Unlock(other); !errors.Is(err, ErrWrongStorageKey) {
		t.Fatalf("Unlock with another key: %v", err)
	}
	if _, err := s.Sessions("carol-device"); err != nil {
		t.Fatalf("a refused key locked the store: %v", err)
	}
	forceKey(t, s, other)
	if _, err := s.Sessions("carol-device"); err == nil {
		t.Fatal("sessions opened under another storage key")
	}

	if err := s.DeleteSessions("bob-device"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Sessions("bob-device"); err != nil || len(got) != 0 {
		t.Fatalf("after delete: %d, %v", len(got), err)
	}
	for _, bad := range []Session{{PeerID: "", ID: []byte{1}}, {PeerID: "p"}, {PeerID: "p", ID: make([]byte, 65)}} {
		if err := s.PutSession(bad); err == nil {
			t.Fatalf("PutSession(%+v) succeeded", bad)
		}
	}
}

// TestPrekeys: prekeys are sealed, listed oldest first, and a one-time key
// is taken exactly once even when many race for it.
func TestPrekeys(t *testing.T) {
	s := unlocked(t)
	now := time.Now()
	var keys []Prekey
	for i := range 20 {
		keys = append(keys, Prekey{Kind: PrekeyOneTime, ID: uint32(100 + i), Private: []byte(fmt.Sprintf("one-time private %02d", i)), Created: now.Add(time.Duration(i))})
	}
	keys = append(keys, Prekey{Kind: PrekeySigned, ID: 1, Private: []byte("signed private"), Created: now},
		Prekey{Kind: PrekeyKEM, ID: 1, Private: []byte("kem private"), Created: now})
	if err := s.PutPrekeys(keys); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPrekeys(keys[:1]); err == nil {
		t.Fatal("a prekey ID was stored twice")
	}
	if err := s.PutPrekeys([]Prekey{{Kind: 5, ID: 1, Private: []byte("x")}}); err == nil {
		t.Fatal("unknown kind stored")
	}
	ids, err := s.Prekeys(PrekeyOneTime)
	if err != nil || len(ids) != 20 || ids[0] != 100 || ids[19] != 119 {
		t.Fatalf("one-time IDs %v, %v", ids, err)
	}
	if k, err := s.Prekey(PrekeySigned, 1); err != nil || string(k.Private) != "signed private" {
		t.Fatalf("signed prekey: %q, %v", k.Private, err)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM prekeys WHERE instr(private, ?) > 0`, []byte("private")).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d prekeys stored in the clear (%v)", n, err)
	}

	// 8 racers for each of 20 one-time keys: each key goes to exactly one.
	var mu sync.Mutex
	taken := map[uint32]int{}
	var wg sync.WaitGroup
	for id := uint32(100); id < 120; id++ {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := s.TakePrekey(PrekeyOneTime, id)
				if errors.Is(err, ErrNotFound) {
					return
				}
				if err != nil || k.ID != id {
					t.Errorf("TakePrekey(%d): %v, %v", id, k.ID, err)
					return
				}
				mu.Lock()
				taken[id]++
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	for id := uint32(100); id < 120; id++ {
		if taken[id] != 1 {
			t.Fatalf("one-time key %d taken %d times", id, taken[id])
		}
	}
	if ids, _ := s.Prekeys(PrekeyOneTime); len(ids) != 0 {
		t.Fatalf("%d one-time keys left", len(ids))
	}
	if err := s.DeletePrekey(PrekeySigned, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prekey(PrekeySigned, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted prekey: %v", err)
	}
}

// TestRewrap: an identity from before storage keys gets one; the device
// and box keys cannot change on the way, nor an existing storage key.
func TestRewrap(t *testing.T) {
	s, _ := openTemp(t)
	pw := []byte("pw")
	old := Identity{DeviceKey: []byte("device"), BoxKey: bytes.Repeat([]byte{1}, 32)}
	// Written as format 1, the way an older release did.
	si, err := seal(pw, old)
	if err != nil {
		t.Fatal(err)
	}
	v1 := append([]byte{1, 6}, "device"...)
	v1 = append(append(v1, 32), old.BoxKey...)
	key := si.key(pw)
	si.sealed = mustSealRaw(t, key, si, v1)
	if _, err := s.db.Exec(`INSERT INTO identity (id, kdf, salt, time, memory, threads, nonce, sealed) VALUES (1, ?, ?, ?, ?, ?, ?, ?)`,
		si.kdf, si.salt, si.time, si.memory, si.threads, si.nonce, si.sealed); err != nil {
		t.Fatal(err)
	}
	got, err := s.Identity(pw)
	if err != nil || got.StorageKey != nil || !bytes.Equal(got.BoxKey, old.BoxKey) {
		t.Fatalf("format 1 identity: %+v, %v", got, err)
	}
	got.StorageKey = bytes.Repeat([]byte{7}, StorageKeySize)
	if err := s.Rewrap([]byte("wrong"), got); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("Rewrap with a wrong password: %v", err)
	}
	bad := got
	bad.BoxKey = bytes.Repeat([]byte{2}, 32)
	if err := s.Rewrap(pw, bad); err == nil {
		t.Fatal("Rewrap changed the box key")
	}
	if err := s.Rewrap(pw, got); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Identity(pw); err != nil || !bytes.Equal(again.StorageKey, got.StorageKey) {
		t.Fatalf("after Rewrap: %+v, %v", again, err)
	}
	other := got
	other.StorageKey = bytes.Repeat([]byte{8}, StorageKeySize)
	if err := s.Rewrap(pw, other); err == nil {
		t.Fatal("Rewrap replaced a storage key")
	}
	// A password change keeps the storage key, so the sealed rows still open.
	if err := s.Reseal(pw, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Identity([]byte("new")); err != nil || !bytes.Equal(again.StorageKey, got.StorageKey) {
		t.Fatalf("after Reseal: %+v, %v", again, err)
	}
}

// mustSealRaw seals plain as si's sealed field, under key.
func mustSealRaw(t *testing.T, key []byte, si sealedIdentity, plain []byte) []byte {
	t.Helper()
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	return aead.Seal(nil, si.nonce, plain, si.ad())
}

// TestConsumeInit: an init message is accepted once; its one-time prekey
// goes with it; a failure changes nothing; deleting the signed prekey
// forgets its init IDs.
func TestConsumeInit(t *testing.T) {
	s := unlocked(t)
	if err := s.PutPrekeys([]Prekey{{Kind: PrekeySigned, ID: 1, Private: []byte("s")}, {Kind: PrekeyOneTime, ID: 7, Private: []byte("o")}}); err != nil {
		t.Fatal(err)
	}
	id := bytes.Repeat([]byte{1}, 32)
	seven, eight := uint32(7), uint32(8)
	if err := s.ConsumeInit(id, 1, &eight, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("consuming a one-time key that is not there: %v", err)
	}
	if err := s.ConsumeInit(id, 1, &seven, nil); err != nil {
		t.Fatalf("first consume (the failed one must have left nothing behind): %v", err)
	}
	if _, err := s.Prekey(PrekeyOneTime, 7); !errors.Is(err, ErrNotFound) {
		t.Fatalf("one-time key still there: %v", err)
	}
	if err := s.ConsumeInit(id, 1, nil, nil); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v", err)
	}
	other := bytes.Repeat([]byte{2}, 32)
	if err := s.ConsumeInit(other, 1, nil, nil); err != nil {
		t.Fatalf("another init without a one-time key: %v", err)
	}
	if err := s.ConsumeInit([]byte("short"), 1, nil, nil); err == nil {
		t.Fatal("a short init ID was accepted")
	}
	if err := s.DeletePrekey(PrekeySigned, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeInit(id, 1, nil, nil); err != nil {
		t.Fatalf("init IDs outlived their signed prekey: %v", err)
	}
}

// TestPasswordChange: a staged password opens the identity only through
// OpenIdentity until committed; commit and drop do what they say; a crash
// between stage and commit leaves both passwords able to open it.
func TestPasswordChange(t *testing.T) {
	s, _ := openTemp(t)
	id := Identity{DeviceKey: []byte("device"), BoxKey: bytes.Repeat([]byte{1}, 32), StorageKey: bytes.Repeat([]byte{2}, 32)}
	old, new := []byte("old"), []byte("new")
	if err := s.CreateIdentity(old, id); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitPassword(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("commit with nothing staged: %v", err)
	}
	if err := s.StagePassword([]byte("wrong"), new); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("stage with a wrong password: %v", err)
	}
	if err := s.StagePassword(old, new); err != nil {
		t.Fatal(err)
	}
	// As after a crash: both open, the new one as staged.
	if got, staged, err := s.OpenIdentity(old); err != nil || staged || !bytes.Equal(got.StorageKey, id.StorageKey) {
		t.Fatalf("old password while staged: %v %v", staged, err)
	}
	if got, staged, err := s.OpenIdentity(new); err != nil || !staged || !bytes.Equal(got.StorageKey, id.StorageKey) {
		t.Fatalf("new password while staged: %v %v", staged, err)
	}
	if _, _, err := s.OpenIdentity([]byte("neither")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("another password while staged: %v", err)
	}
	if err := s.CommitPassword(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.OpenIdentity(old); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old password after commit: %v", err)
	}
	if _, staged, err := s.OpenIdentity(new); err != nil || staged {
		t.Fatalf("new password after commit: %v %v", staged, err)
	}
	// A staged change that did not happen is dropped.
	if err := s.StagePassword(new, []byte("newer")); err != nil {
		t.Fatal(err)
	}
	if err := s.DropStagedPassword(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.OpenIdentity([]byte("newer")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("dropped password: %v", err)
	}
}

// TestOldSecretsScrubbed: a ratchet state replaced or deleted is gone from
// the disk once the store closes — not in the database's free pages, not in
// the write-ahead log — so someone who later learns the storage key (the
// password and the disk) cannot roll a session back to decrypt old messages.
func TestOldSecretsScrubbed(t *testing.T) {
	s, path := openTemp(t)
	if err := s.Unlock(bytes.Repeat([]byte{3}, StorageKeySize)); err != nil {
		t.Fatal(err)
	}
	sealedOf := func(peer string) []byte {
		t.Helper()
		var b []byte
		if err := s.db.QueryRow(`SELECT state FROM e2e_sessions WHERE peer_id = ?`, peer).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := time.Now()
	var old [][]byte
	// A state replaced by a longer one (its cell moves), and a deleted one.
	if err := s.PutSession(Session{PeerID: "bob", ID: []byte{1}, State: bytes.Repeat([]byte("a"), 300), Used: now}); err != nil {
		t.Fatal(err)
	}
	old = append(old, sealedOf("bob"))
	if err := s.PutSession(Session{PeerID: "bob", ID: []byte{1}, State: bytes.Repeat([]byte("b"), 900), Used: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession(Session{PeerID: "carol", ID: []byte{1}, State: bytes.Repeat([]byte("c"), 500), Used: now}); err != nil {
		t.Fatal(err)
	}
	old = append(old, sealedOf("carol"))
	if err := s.DeleteSessions("carol"); err != nil {
		t.Fatal(err)
	}
	current := sealedOf("bob")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var disk []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		disk = append(disk, b...)
	}
	if !bytes.Contains(disk, current[len(current)-64:]) {
		t.Fatal("the current state is not on disk: the test reads the wrong files")
	}
	for i, o := range old {
		// Any 32 bytes of a sealed state are unique to it.
		if bytes.Contains(disk, o[len(o)-32:]) {
			t.Fatalf("old sealed state %d lingers on disk", i)
		}
	}
}
