package transfer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
)

// recordSealed makes the pair's Sender keep a copy of every ciphertext it
// seals, by chunk index, in the order sealed.
func recordSealed(p *pair) func() map[uint64][][]byte {
	var mu sync.Mutex
	got := map[uint64][][]byte{}
	p.s.tamper = func(_ ID, i uint64, ct []byte) {
		mu.Lock()
		got[i] = append(got[i], slices.Clone(ct))
		mu.Unlock()
	}
	return func() map[uint64][][]byte {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

func xor(a, b []byte) []byte {
	out := make([]byte, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// restartSender stands in for the app closing and opening again: the old
// Sender is gone and a new one is given the same share (same offer, same
// file key) as node/files does at sign-in.
func restartSender(t *testing.T, p *pair, o Offer, src string) {
	t.Helper()
	p.s.Close()
	p.startSender(t)
	if err := p.s.Add(Share{Offer: o, Path: src, Peer: p.rh.ID()}); err != nil {
		t.Fatal(err)
	}
}

// TestRewrittenFileNoNonceReuse (issue 13, item 7) is the attack: a shared
// file is rewritten at the same size while the app is closed, and the
// share is served again after the restart. Were the chunks sealed under
// the offer's key and their index nonces again, an observer of both
// transfers would learn old ⊕ new plaintext from ct ⊕ ct' (and GCM's
// authentication key with it). Each stream now seals under a key derived
// from the file key and a fresh salt, so no (key, nonce) pair repeats; the
// receiver refuses the new bytes, since they are not what the offer's hash
// names.
func TestRewrittenFileNoNonceReuse(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "r.bin", 8*MinChunkSize, MinChunkSize)
	old, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	sealed := recordSealed(p)
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
	first := sealed()

	// Rewritten at the same size while the app was closed.
	writeFile(t, p.srcDir, "r.bin", o.Size, 99)
	changed, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	restartSender(t, p, o, src)
	sealed = recordSealed(p)
	// Another device of the contact (or the same after losing its copy)
	// fetches the share again.
	r2 := &Receiver{Host: p.rh}
	defer r2.Close()
	dir2 := t.TempDir()
	_, err = r2.Receive(context.Background(), Request{Peer: p.sh.ID(), Offer: o, Dir: dir2})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("receiving the rewritten file: %v, want ErrCorrupt", err)
	}
	if exists(filepath.Join(dir2, "r.bin")) {
		t.Fatal("the rewritten bytes got the offered file's name")
	}
	second := sealed()
	if len(second) == 0 {
		t.Fatal("nothing was served after the restart")
	}
	cs := o.chunkSize()
	for i, cts := range second {
		a, b := first[i][0], cts[0]
		off := int(i) * cs
		plainXOR := xor(old[off:off+o.chunkLen(i)], changed[off:off+o.chunkLen(i)])
		if bytes.Equal(xor(a, b)[:len(plainXOR)], plainXOR) {
			t.Fatalf("chunk %d: ct ⊕ ct' is old ⊕ new plaintext: the keystream was reused", i)
		}
	}
}

// TestReaddedShareFreshKey (issue 13, item 7): re-adding an unchanged
// share after a restart seals under a new key — the same chunk never has
// the same ciphertext twice — and a receiver resuming across the restart
// still gets the file, checked against the offer's hash.
func TestReaddedShareFreshKey(t *testing.T) {
	p := newPair(t)
	o, src := p.offer(t, "same.bin", 16*MinChunkSize, MinChunkSize)
	p.r.SyncBytes = MinChunkSize
	sealed := recordSealed(p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.r.written = cancelAfter(4, cancel)
	if _, err := p.r.Receive(ctx, p.req(o)); !errors.Is(err, context.Canceled) {
		t.Fatalf("paused receive: %v", err)
	}
	p.r.written = nil
	first := sealed()

	restartSender(t, p, o, src)
	sealed = recordSealed(p)
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, src, got)
	again := 0
	for i, cts := range sealed() {
		if prev := first[i]; len(prev) > 0 {
			again++
			if bytes.Equal(prev[0], cts[0]) {
				t.Fatalf("chunk %d sealed to the same ciphertext after the share was re-added", i)
			}
		}
	}
	if again == 0 {
		t.Fatal("no chunk was sealed both before and after the restart; the test shows nothing")
	}
}

// TestReplySalt: an OK reply must carry a salt of exactly SaltSize bytes —
// a sender that seals under the bare file key (no salt) is refused before
// a chunk is read — and the reply limit holds a full one.
func TestReplySalt(t *testing.T) {
	for _, c := range []struct {
		name string
		r    *Reply
		ok   bool
	}{
		{"ok with salt", &Reply{Status: Status_STATUS_OK, Salt: newSalt()}, true},
		{"ok without salt", &Reply{Status: Status_STATUS_OK}, false},
		{"ok with short salt", &Reply{Status: Status_STATUS_OK, Salt: make([]byte, SaltSize-1)}, false},
		{"ok with long salt", &Reply{Status: Status_STATUS_OK, Salt: make([]byte, SaltSize+1)}, false},
		{"refused", &Reply{Status: Status_STATUS_REFUSED}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := proto.Marshal(c.r)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxReplyFrame {
				t.Fatalf("reply of %d bytes over MaxReplyFrame", len(b))
			}
			_, _, err = decodeReply(b)
			if c.ok != (err == nil) {
				t.Fatalf("decodeReply: %v, want ok=%v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("%v is not ErrProtocol", err)
			}
		})
	}
}

// TestReceiveCleansName (issue 13, item 12): an offered name with a
// right-to-left override, "invoice‮fdp.exe" drawn as "invoiceexe.pdf", is
// saved on disk without it, under a name that shows what it is.
func TestReceiveCleansName(t *testing.T) {
	p := newPair(t)
	path := writeFile(t, p.srcDir, "payload.exe", 3*MinChunkSize, 5)
	o, err := NewOffer(path, MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	o.Name = "invoice\u202efdp.exe"
	if err := p.s.Add(Share{Offer: o, Path: path, Peer: p.rh.ID()}); err != nil {
		t.Fatal(err)
	}
	got, err := p.r.Receive(context.Background(), p.req(o))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(got) != "invoicefdp.exe" {
		t.Fatalf("saved as %+q, want \"invoicefdp.exe\"", filepath.Base(got))
	}
	sameFile(t, path, got)
}
