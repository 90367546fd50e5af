package node

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"

	"eserver/authserver"
	"eserver/node/api"
	"eserver/pipeline"
	"eserver/supernode"
)

// tapHost is the supernode's host as its relay sees it, recording every
// byte that passes through relay circuits (the hop streams it accepts and
// the stop streams it opens), both directions.
type tapHost struct {
	host.Host
	mu  sync.Mutex
	buf bytes.Buffer
}

func (h *tapHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	if pid != proto.ProtoIDv2Hop {
		h.Host.SetStreamHandler(pid, handler)
		return
	}
	h.Host.SetStreamHandler(pid, func(st network.Stream) { handler(&tapStream{st, h}) })
}

func (h *tapHost) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	st, err := h.Host.NewStream(ctx, p, pids...)
	if err != nil || !slices.Contains(pids, proto.ProtoIDv2Stop) {
		return st, err
	}
	return &tapStream{st, h}, nil
}

func (h *tapHost) bytes() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return bytes.Clone(h.buf.Bytes())
}

type tapStream struct {
	network.Stream
	h *tapHost
}

func (s *tapStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	s.h.mu.Lock()
	s.h.buf.Write(p[:n])
	s.h.mu.Unlock()
	return n, err
}

func (s *tapStream) Write(p []byte) (int, error) {
	s.h.mu.Lock()
	s.h.buf.Write(p)
	s.h.mu.Unlock()
	return s.Stream.Write(p)
}

// tappedSupernode is an auth server that is its own supernode, on one
// host on 127.0.0.1, whose relay is tapped: nodes with relayOnly set talk
// through it, and tap holds every byte it relayed.
type tappedSupernode struct {
	addr  string    // the server's dial address, for newTestNode
	raw   host.Host // the host, untapped
	tap   *tapHost
	sn    *supernode.Services
	snDir string // the supernode's database files
}

// newTappedSupernode starts one in a temporary directory, closed when the
// test ends (after the nodes made after it).
func newTappedSupernode(t testing.TB) *tappedSupernode {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "auth", "auth.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := authserver.LoadOrCreateKey(db)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pipeline.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	srv, err := authserver.New(authserver.Config{DBPath: db, Key: key, Logger: testLogger(), SelfSupernode: true, RegisterRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.Attach(raw)
	ts := &tappedSupernode{raw: raw, tap: &tapHost{Host: raw}, snDir: filepath.Join(dir, "supernode")}
	if err := os.MkdirAll(ts.snDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ts.sn, err = supernode.StartServices(ts.tap, supernode.ServicesConfig{
		AuthServer: raw.ID(), MailboxDB: filepath.Join(ts.snDir, "mailbox.db"), Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.sn.Close() })
	addr, err := pipeline.DialAddr(raw)
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = addr.String()
	return ts
}

// relayOnlyNode is a node behind a strict NAT (it listens nowhere),
// registered and signed in at ts: it reaches others through ts's relay.
func (ts *tappedSupernode) relayOnlyNode(t testing.TB, name string) *testNode {
	tn := newTestNode(t, ts.addr, name)
	tn.relayOnly = true
	tn.stop()
	tn.open()
	tn.register()
	tn.login()
	return tn
}

// TestSupernodeBlindness: two users behind strict NATs (they listen
// nowhere) talk through a supernode's relay, one leaves mail for the other
// while away, they set nicks and personal messages, and both back up their
// contact lists there. Afterwards neither the supernode's database files
// nor the bytes it relayed contain any message text, nick, personal message
// or either user's name.
func TestSupernodeBlindness(t *testing.T) {
	ts := newTappedSupernode(t)
	raw, tap, sn, snDir := ts.raw, ts.tap, ts.sn, ts.snDir

	// Names chosen so that finding one by chance in random bytes is out of
	// the question.
	const (
		nameA, nameB = "zorblaxia", "quimbyfred"
		nickA, nickB = "Zanzibar Nightingale", "Quetzal Thunderbird"
		subA         = "reading Ouagadougou almanacs"
	)
	texts := []string{"the vault code is marmalade-7781", "meet me by the xylophone at dusk", "while you were out: kumquat"}
	alice, bob := ts.relayOnlyNode(t, nameA), ts.relayOnlyNode(t, nameB)
	befriend(t, alice, bob)
	for _, p := range []struct {
		tn        *testNode
		nick, sub string
	}{{alice, nickA, subA}, {bob, nickB, ""}} {
		if err := p.tn.SetPresence(ctx(t), api.PresenceUpdate{Nick: &p.nick, Subnick: &p.sub}); err != nil {
			t.Fatal(err)
		}
	}
	// Live, through the relay.
	if _, err := alice.Send(ctx(t), nameB, texts[0]); err != nil {
		t.Fatal(err)
	}
	bob.collect(nameA, 1)
	if _, err := bob.Send(ctx(t), nameA, texts[1]); err != nil {
		t.Fatal(err)
	}
	alice.collect(nameB, 1)
	if cs, _ := alice.Contacts(ctx(t)); len(cs) != 1 || cs[0].Via != api.ViaRelayed || cs[0].Nick != nickB {
		t.Fatalf("alice sees %+v; want bob, relayed, with his nick", cs)
	}
	// By mail, while bob is away.
	bob.stop()
	alice.waitContact(nameB, api.RelationAccepted, api.StatusOffline)
	if _, err := alice.Send(ctx(t), nameB, texts[2]); err != nil {
		t.Fatal(err)
	}
	as, _ := alice.current()
	waitUntil(t, "the mail left", func() bool { out, _ := as.store.Outbox(nameB); return len(out) == 0 })
	bob.open()
	bob.login()
	if m := bob.collect(nameA, 1); m[0].Text != texts[2] {
		t.Fatalf("bob read %q", m[0].Text)
	}
	waitUntil(t, "both contact lists backed up", func() bool {
		n, err := sn.Contacts.Count()
		return err == nil && n == 2
	})
	bs, _ := bob.current()
	bobPeer := bs.host.ID()
	alice.stop()
	bob.stop()

	secrets := append([]string{nameA, nameB, nickA, nickB, subA}, texts...)
	relayed := tap.bytes()
	if len(relayed) < 4<<10 {
		t.Fatalf("only %d bytes went through the relay: the test did not test it", len(relayed))
	}
	sn.Close() // flush the databases
	files, err := filepath.Glob(filepath.Join(snDir, "*.db*"))
	if err != nil || len(files) < 3 {
		t.Fatalf("supernode files %v, %v", files, err)
	}
	for _, s := range secrets {
		for _, form := range []string{s, strings.ToLower(s), strings.ToUpper(s)} {
			if bytes.Contains(relayed, []byte(form)) {
				t.Errorf("the relayed bytes contain %q", form)
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(form)) {
					t.Errorf("%s contains %q", filepath.Base(f), form)
				}
			}
		}
	}
	// Controls: the search sees what it should see. The relay protocol
	// names peers in the clear, and the mailbox database keys mail by
	// mailbox ID.
	var all []byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	if !bytes.Contains(relayed, []byte(bobPeer)) {
		t.Error("control: the relayed bytes do not contain bob's peer ID: the tap saw no relay protocol")
	}
	if !bytes.Contains(all, supernode.ContactsOwnerID(raw.ID(), nameA)) {
		t.Error("control: the files do not contain alice's contact-list owner ID: the search read no database")
	}
	t.Logf("%d relayed bytes and %d files searched for %d secrets", len(relayed), len(files), len(secrets))
}
