package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestRoundTrip runs long conversations (1000 messages) in several
// patterns, then shorter ones from every kind of session start (with and
// without each optional one-time prekey): every message decrypts to what was
// sent, in order.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	patterns := []struct {
		name string
		// aliceSends reports whether message i goes from alice to bob.
		aliceSends func(i int) bool
	}{
		{"alternating", func(i int) bool { return i%2 == 0 }},
		{"alice only", func(int) bool { return true }},
		{"bob only", func(int) bool { return false }},
		{"bursts", func(i int) bool { return (i/7)%3 != 0 }},
	}
	run := func(t *testing.T, o opts, aliceSends func(int) bool, n int) {
		_, _, as, bs := established(t, o)
		for i := range n {
			if aliceSends(i) {
				deliver(t, as, bs, fmt.Sprintf("alice %d", i))
			} else {
				deliver(t, bs, as, fmt.Sprintf("bob %d", i))
			}
		}
	}
	for _, p := range patterns {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			run(t, opts{oneTime: true}, p.aliceSends, 1000)
		})
	}
	// The start only decides the first keys; a short run of each shows
	// they agree.
	for _, o := range allOpts {
		t.Run(o.String(), func(t *testing.T) { run(t, o, patterns[3].aliceSends, 60) })
	}
}

// TestInitHeaderUntilReply: the initiator's messages carry the init header
// until it has decrypted a reply; any of them can start the responder's
// session, the others then decrypt on it; an init header of another session
// is refused with ErrNewSession and changes nothing.
func TestInitHeaderUntilReply(t *testing.T) {
	alice, bob := newDevice(t), newDevice(t)
	as, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{oneTime: true}))
	if err != nil {
		t.Fatal(err)
	}
	if !as.AwaitingReply() {
		t.Fatal("new initiator session not awaiting a reply")
	}
	var first [3][]byte
	for i := range first {
		first[i] = encrypt(t, as, fmt.Sprint("early ", i))
		info, ok, err := ParseInit(first[i])
		if err != nil || !ok {
			t.Fatalf("early message %d: init %v, %v", i, ok, err)
		}
		if info.Sender != alice.id.PeerID() || !bytes.Equal(info.IdentityDH, alice.id.Public().DH) ||
			info.SignedPrekeyID != bob.spk.ID || info.KEMPrekeyID != bob.kem.ID || info.KEMOneTime ||
			!info.HasOneTime || info.OneTimeID != firstOT {
			t.Fatalf("init info %+v", info)
		}
	}
	// The last one arrives first.
	bs, pt, err := Respond(bob.id, bob.store, alice.id.PeerID(), first[2], testAD)
	if err != nil || string(pt) != "early 2" {
		t.Fatalf("respond: %q, %v", pt, err)
	}
	if !bs.Remote().Equal(alice.id.Public()) || !bs.Local().Equal(bob.id.Public()) {
		t.Fatal("responder session has the wrong identities")
	}
	if !as.Remote().Equal(bob.id.Public()) {
		t.Fatal("initiator session has the wrong remote")
	}
	decrypt(t, bs, first[0], "early 0")
	decrypt(t, bs, first[1], "early 1")
	if bs.AwaitingReply() {
		t.Fatal("responder awaiting a reply")
	}

	reply := encrypt(t, bs, "reply")
	if IsInit(reply) {
		t.Fatal("responder's message carries an init header")
	}
	if !IsInit(encrypt(t, as, "still early")) {
		t.Fatal("initiator stopped sending the init header before a reply")
	}
	decrypt(t, as, reply, "reply")
	if as.AwaitingReply() || IsInit(encrypt(t, as, "after reply")) {
		t.Fatal("initiator still sends the init header after a reply")
	}

	// Alice starts over (say she lost her state): bob's session refuses
	// the new init header, Respond takes it.
	as2, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{}))
	if err != nil {
		t.Fatal(err)
	}
	restart := encrypt(t, as2, "restart")
	mustFail(t, bs, restart, testAD, ErrNewSession)
	if _, pt, err := Respond(bob.id, bob.store, alice.id.PeerID(), restart, testAD); err != nil || string(pt) != "restart" {
		t.Fatalf("respond to restart: %q, %v", pt, err)
	}
	// An initiator's session takes no init header either (both sides
	// initiated at once: the node decides which session to keep).
	bobFirst, err := Initiate(bob.id, alice.id.PeerID(), alice.bundle(t, opts{}))
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, as, encrypt(t, bobFirst, "crossing"), testAD, ErrNewSession)
}

// TestOutOfOrder delivers messages of several chains in a random order
// (seeded, so a failure reproduces): all decrypt, each exactly once.
func TestOutOfOrder(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(seed, 0))
			_, _, as, bs := established(t, opts{oneTime: true})
			type msg struct {
				ct   []byte
				text string
			}
			var late []msg
			// Three chains of 300 from alice; bob gets the first of
			// each at once and replies, the rest come later, shuffled.
			for c := range 3 {
				for i := range 300 {
					text := fmt.Sprintf("chain %d message %d", c, i)
					ct := encrypt(t, as, text)
					if i == 0 {
						decrypt(t, bs, ct, text)
						continue
					}
					late = append(late, msg{ct, text})
				}
				deliver(t, bs, as, fmt.Sprint("reply ", c))
			}
			r.Shuffle(len(late), func(i, j int) { late[i], late[j] = late[j], late[i] })
			for _, m := range late {
				decrypt(t, bs, m.ct, m.text)
			}
			if len(bs.skipped) != 0 {
				t.Fatalf("%d skipped keys left after every message arrived", len(bs.skipped))
			}
			for _, m := range late[:20] {
				mustFail(t, bs, m.ct, testAD, ErrDuplicate, ErrOpen)
			}

			// One chain of MaxSkip+1 messages in a random order: the
			// first to arrive may be the last, which skips exactly
			// MaxSkip keys.
			var chain []msg
			for i := range MaxSkip + 1 {
				text := fmt.Sprint("long ", i)
				chain = append(chain, msg{encrypt(t, as, text), text})
			}
			r.Shuffle(len(chain), func(i, j int) { chain[i], chain[j] = chain[j], chain[i] })
			for _, m := range chain {
				decrypt(t, bs, m.ct, m.text)
			}
		})
	}
}

// TestDuplicate re-delivers messages: a message of a chain the session still
// tracks fails with ErrDuplicate, one of a chain whose keys are all gone with
// ErrOpen; neither changes the session, and the conversation goes on.
func TestDuplicate(t *testing.T) {
	_, _, as, bs := established(t, opts{})
	m0 := encrypt(t, as, "m0")
	m1 := encrypt(t, as, "m1")
	m2 := encrypt(t, as, "m2")
	decrypt(t, bs, m0, "m0")
	mustFail(t, bs, m0, testAD, ErrDuplicate) // current chain, in order

	decrypt(t, bs, m2, "m2") // m1 is skipped
	decrypt(t, bs, m1, "m1") // from the skipped keys
	mustFail(t, bs, m1, testAD, ErrDuplicate)
	mustFail(t, bs, m2, testAD, ErrDuplicate)

	// A chain with a skipped key left stays recognisable after a ratchet.
	k0 := encrypt(t, as, "k0")
	k1 := encrypt(t, as, "k1")
	k2 := encrypt(t, as, "k2")
	decrypt(t, bs, k0, "k0")
	decrypt(t, bs, k2, "k2")
	deliver(t, bs, as, "turn")
	deliver(t, as, bs, "new chain")
	mustFail(t, bs, k0, testAD, ErrDuplicate)
	decrypt(t, bs, k1, "k1")
	mustFail(t, bs, k1, testAD, ErrOpen) // its chain has no keys left

	// Two ratchet steps later, m0's chain is long gone.
	deliver(t, bs, as, "turn again")
	deliver(t, as, bs, "newer chain")
	mustFail(t, bs, m0, testAD, ErrOpen)
	deliver(t, as, bs, "still fine")
	deliver(t, bs, as, "both ways")
}

// TestSkipLimits checks MaxSkip at its edge in the current chain and across
// a ratchet step (the previous chain's length), and MaxSkippedKeys.
func TestSkipLimits(t *testing.T) {
	t.Parallel()
	chain := func(t *testing.T, s *Session, n int, name string) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = encrypt(t, s, fmt.Sprintf("%s %d", name, i))
		}
		return out
	}
	t.Run("MaxSkip in the current chain is accepted", func(t *testing.T) {
		_, _, as, bs := established(t, opts{})
		c := chain(t, as, MaxSkip+2, "c")
		decrypt(t, bs, c[MaxSkip], fmt.Sprint("c ", MaxSkip)) // skips 0..MaxSkip-1
		if len(bs.skipped) != MaxSkip {
			t.Fatalf("%d skipped keys, want %d", len(bs.skipped), MaxSkip)
		}
		for i := range MaxSkip {
			decrypt(t, bs, c[i], fmt.Sprint("c ", i))
		}
		decrypt(t, bs, c[MaxSkip+1], fmt.Sprint("c ", MaxSkip+1))
	})
	t.Run("MaxSkip+1 in the current chain is rejected", func(t *testing.T) {
		_, _, as, bs := established(t, opts{})
		c := chain(t, as, MaxSkip+2, "c")
		mustFail(t, bs, c[MaxSkip+1], testAD, ErrTooManySkipped)
		decrypt(t, bs, c[0], "c 0")
		decrypt(t, bs, c[MaxSkip+1], fmt.Sprint("c ", MaxSkip+1)) // now MaxSkip ahead
	})
	t.Run("previous chain", func(t *testing.T) {
		for _, tc := range []struct {
			length int // of alice's chain, of which bob has only message 0
			err    error
		}{{MaxSkip + 1, nil}, {MaxSkip + 2, ErrTooManySkipped}} {
			_, _, as, bs := established(t, opts{})
			c := chain(t, as, tc.length, "c")
			decrypt(t, bs, c[0], "c 0")
			deliver(t, bs, as, "reply")
			next := encrypt(t, as, "next") // says: previous chain had tc.length
			if tc.err != nil {
				mustFail(t, bs, next, testAD, tc.err)
				continue
			}
			decrypt(t, bs, next, "next")
			decrypt(t, bs, c[tc.length-1], fmt.Sprint("c ", tc.length-1))
		}
	})
	t.Run("MaxSkippedKeys evicts the oldest", func(t *testing.T) {
		_, _, as, bs := established(t, opts{})
		var chains [3][][]byte
		for i := range chains {
			chains[i] = chain(t, as, MaxSkip+1, fmt.Sprint("chain", i))
			decrypt(t, bs, chains[i][MaxSkip], fmt.Sprintf("chain%d %d", i, MaxSkip))
			if want := min((i+1)*MaxSkip, MaxSkippedKeys); len(bs.skipped) != want {
				t.Fatalf("after chain %d: %d skipped keys, want %d", i, len(bs.skipped), want)
			}
			deliver(t, bs, as, "reply")
		}
		if n := len(snapshot(t, bs)); n > MaxSessionSize {
			t.Fatalf("session with %d skipped keys is %d bytes, over MaxSessionSize %d", len(bs.skipped), n, MaxSessionSize)
		}
		// Chain 0's keys were the oldest: gone. Chains 1 and 2 open.
		mustFail(t, bs, chains[0][0], testAD, ErrOpen)
		decrypt(t, bs, chains[1][0], "chain1 0")
		decrypt(t, bs, chains[2][MaxSkip-1], fmt.Sprintf("chain2 %d", MaxSkip-1))
	})
}

// TestLimits checks the size limits at their edge.
func TestLimits(t *testing.T) {
	_, _, as, bs := established(t, opts{})
	big := bytes.Repeat([]byte{'x'}, MaxPlaintext)
	ct, err := as.Encrypt(big, testAD)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) > MaxMessageSize {
		t.Fatalf("largest message is %d bytes, over MaxMessageSize %d", len(ct), MaxMessageSize)
	}
	pt, err := bs.Decrypt(ct, testAD)
	if err != nil || !bytes.Equal(pt, big) {
		t.Fatalf("largest message: %v", err)
	}
	if _, err := as.Encrypt(append(big, 'x'), testAD); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("plaintext over the limit: %v", err)
	}
	mustFail(t, bs, make([]byte, MaxMessageSize+1), testAD, ErrTooLarge)
	if _, err := UnmarshalBundle(make([]byte, MaxBundleSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bundle over the limit: %v", err)
	}
	if _, err := UnmarshalSession(make([]byte, MaxSessionSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("session over the limit: %v", err)
	}
	// The initiator's first message, with its init header, fits too.
	alice, bob := newDevice(t), newDevice(t)
	s, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{true, true}))
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Encrypt(big, testAD)
	if err != nil || len(first) > MaxMessageSize {
		t.Fatalf("largest init message: %d bytes, %v", len(first), err)
	}
}

// TestConcurrentUse encrypts and decrypts from several goroutines at once
// (meant for -race): every message still decrypts.
func TestConcurrentUse(t *testing.T) {
	_, _, as, bs := established(t, opts{})
	const workers, each = 8, 40
	var mu sync.Mutex
	var toBob, toAlice [][2][]byte
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				text := fmt.Sprintf("w%d m%d", w, i)
				a, errA := as.Encrypt([]byte(text), testAD)
				b, errB := bs.Encrypt([]byte(text), testAD)
				if errA != nil || errB != nil {
					t.Error(errA, errB)
					return
				}
				mu.Lock()
				toBob = append(toBob, [2][]byte{a, []byte(text)})
				toAlice = append(toAlice, [2][]byte{b, []byte(text)})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i := range toBob {
		wg.Go(func() {
			if pt, err := bs.Decrypt(toBob[i][0], testAD); err != nil || !bytes.Equal(pt, toBob[i][1]) {
				t.Errorf("bob: %q, %v", pt, err)
			}
		})
		wg.Go(func() {
			if pt, err := as.Decrypt(toAlice[i][0], testAD); err != nil || !bytes.Equal(pt, toAlice[i][1]) {
				t.Errorf("alice: %q, %v", pt, err)
			}
		})
	}
	wg.Wait()
}

// TestSessionMarshal stores sessions mid-conversation — the initiator before
// any reply, the responder with skipped keys — and goes on with the copies.
func TestSessionMarshal(t *testing.T) {
	alice, bob := newDevice(t), newDevice(t)
	as, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{oneTime: true, oneTimeKEM: true}))
	if err != nil {
		t.Fatal(err)
	}
	encrypt(t, as, "lost")
	as = roundTrip(t, as)
	if !as.AwaitingReply() {
		t.Fatal("restored initiator lost its pending init header")
	}
	first := encrypt(t, as, "first")
	bs, _, err := Respond(bob.id, bob.store, alice.id.PeerID(), first, testAD)
	if err != nil {
		t.Fatal(err)
	}
	var held [][]byte
	for i := range 10 {
		ct := encrypt(t, as, fmt.Sprint("m", i))
		if i < 9 {
			held = append(held, ct)
		} else {
			decrypt(t, bs, ct, "m9")
		}
	}
	bs = roundTrip(t, bs)
	if len(bs.skipped) != 10 { // "lost" and m0..m8
		t.Fatalf("restored responder has %d skipped keys, want 10", len(bs.skipped))
	}
	for i, ct := range held {
		decrypt(t, bs, ct, fmt.Sprint("m", i))
	}
	deliver(t, bs, as, "reply")
	as = roundTrip(t, as)
	if as.AwaitingReply() {
		t.Fatal("restored initiator awaits a reply it had")
	}
	for i := range 50 {
		deliver(t, as, bs, fmt.Sprint("a", i))
		if i%4 == 0 {
			bs = roundTrip(t, bs)
			deliver(t, bs, as, fmt.Sprint("b", i))
		}
	}
}

// roundTrip marshals and unmarshals s, checks the encoding is stable, and
// returns the copy.
func roundTrip(t *testing.T, s *Session) *Session {
	t.Helper()
	b := snapshot(t, s)
	c, err := UnmarshalSession(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, snapshot(t, c)) {
		t.Fatal("session encoding changed through a round trip")
	}
	if !c.Remote().Equal(s.Remote()) || !c.Local().Equal(s.Local()) {
		t.Fatal("identities changed through a round trip")
	}
	return c
}

// TestSessionUnmarshalInvalid breaks one invariant at a time of a valid
// stored session: each is refused with ErrMalformed.
func TestSessionUnmarshalInvalid(t *testing.T) {
	alice, bob, as, bs := established(t, opts{})
	deliver(t, as, bs, "x")
	encrypt(t, as, "skipped")
	deliver(t, as, bs, "y")
	pending, err := Initiate(alice.id, bob.id.PeerID(), bob.bundle(t, opts{}))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(s *Session) *WireSession {
		var w WireSession
		if err := proto.Unmarshal(snapshot(t, s), &w); err != nil {
			t.Fatal(err)
		}
		return &w
	}
	short := make([]byte, KeySize-1)
	cases := []struct {
		name   string
		from   *Session
		mutate func(w *WireSession)
	}{
		{"version", bs, func(w *WireSession) { w.Version = 2 }},
		{"root key short", bs, func(w *WireSession) { w.Rk = short }},
		{"our ratchet key short", bs, func(w *WireSession) { w.Dhs = short }},
		{"their ratchet key missing", bs, func(w *WireSession) { w.Dhr = nil }},
		{"sending chain missing", bs, func(w *WireSession) { w.Cks = nil }},
		{"receiving chain without header key", bs, func(w *WireSession) { w.Hkr = nil }},
		{"received without a receiving chain", pending, func(w *WireSession) { w.Nr = 3 }},
		{"responder without a receiving chain", bs, func(w *WireSession) { w.Ckr, w.Hkr = nil, nil; w.Nr = 0 }},
		{"init ID short", bs, func(w *WireSession) { w.InitId = short }},
		{"local peer ID garbage", bs, func(w *WireSession) { w.LocalPeerId = []byte("not a peer") }},
		{"remote identity key short", bs, func(w *WireSession) { w.RemoteDh = short }},
		{"session with oneself", bs, func(w *WireSession) { w.RemotePeerId = w.LocalPeerId }},
		{"pending init on the responder", bs, func(w *WireSession) { w.PendingInit = decode(pending).PendingInit }},
		{"pending init of another session", pending, func(w *WireSession) { w.PendingInit.Ephemeral = bytes.Repeat([]byte{9}, KeySize) }},
		{"pending init after a reply", as, func(w *WireSession) { w.PendingInit = decode(pending).PendingInit }},
		{"skipped message key short", bs, func(w *WireSession) { w.Skipped[0].MessageKey = short }},
		{"too many skipped keys", bs, func(w *WireSession) {
			for len(w.Skipped) <= MaxSkippedKeys {
				w.Skipped = append(w.Skipped, w.Skipped[0])
			}
		}},
		{"unknown field", bs, func(w *WireSession) { w.ProtoReflect().SetUnknown([]byte{0xf8, 0x01, 0x01}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := decode(c.from)
			if c.name == "skipped message key short" && len(w.Skipped) == 0 {
				t.Fatal("test session has no skipped keys")
			}
			c.mutate(w)
			b, err := proto.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := UnmarshalSession(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := UnmarshalSession(snapshot(t, pending)); err != nil {
		t.Fatalf("valid pending session: %v", err)
	}
}

// TestZeroSession: a Session not made by the package fails cleanly.
func TestZeroSession(t *testing.T) {
	var s Session
	if _, err := s.Encrypt([]byte("x"), nil); err == nil {
		t.Fatal("zero session encrypted")
	}
	_, _, as, _ := established(t, opts{})
	if _, err := s.Decrypt(encrypt(t, as, "x"), testAD); err == nil {
		t.Fatal("zero session decrypted")
	}
	if _, err := s.MarshalBinary(); err == nil {
		t.Fatal("zero session marshalled")
	}
}
