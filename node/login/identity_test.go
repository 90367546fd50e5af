package login_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"google.golang.org/protobuf/proto"

	"eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
)

func box(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func accountKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signed(t *testing.T, key ed25519.PrivateKey, user string, version uint64, devs ...ticket.Device) *wire.SignedAccountDevices {
	t.Helper()
	sd, err := ticket.SignDevices(key, ticket.Devices{Username: user, Version: version, Devices: devs, Issued: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

// TestAccountIdentity (issue 17): the first device publishes the account
// identity with its sealed key; a login then carries the sealed key and
// the signed list, a renewal the list alone; a list the server does not
// store is ErrStale with what it holds, and every refusal has its
// sentinel.
func TestAccountIdentity(t *testing.T) {
	clk := &clock{t: time.Now()}
	server := startServer(t, clk)
	ctx := context.Background()
	laptop, phone, tablet := newClient(t), newClient(t), newClient(t)
	if err := login.Register(ctx, laptop, server, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	signIn := func(c host.Host, b byte) *login.Result {
		t.Helper()
		res, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "pw", Device: "dev", BoxKey: box(b)})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	lr := signIn(laptop, 1)
	if lr.Account != nil || lr.AccountDevices != nil {
		t.Fatalf("an account without an identity: %v", lr.Account)
	}
	pr, tr := signIn(phone, 2), signIn(tablet, 3)
	key := accountKey(t)
	L := ticket.Device{Peer: laptop.ID(), BoxKey: box(1)}
	P := ticket.Device{Peer: phone.ID(), BoxKey: box(2)}
	T := ticket.Device{Peer: tablet.ID(), BoxKey: box(3)}
	v1 := signed(t, key, "alice", 1, L)
	sealed := []byte("sealed under the export key")
	held, err := login.PublishDevices(ctx, laptop, server, lr.Ticket.Signed, v1, sealed)
	if err != nil || !proto.Equal(held.Devices, v1) || !bytes.Equal(held.Sealed, sealed) {
		t.Fatalf("first publish: %v, %v", held, err)
	}

	// A login carries both, verified; a renewal the list only.
	pr = signIn(phone, 2)
	if pr.Account == nil || !bytes.Equal(pr.Account.Sealed, sealed) || pr.AccountDevices == nil ||
		pr.AccountDevices.Version != 1 || !pr.AccountDevices.AccountKey.Equal(key.Public()) {
		t.Fatalf("login's account: %v, devices %+v", pr.Account, pr.AccountDevices)
	}
	rr, err := login.Renew(ctx, phone, server, pr.Ticket)
	if err != nil || rr.Account == nil || len(rr.Account.Sealed) != 0 || !proto.Equal(rr.Account.Devices, v1) {
		t.Fatalf("renewal's account: %v, %v", rr, err)
	}

	if err := login.RevokeDevice(ctx, laptop, server, lr.Ticket, tablet.ID(), "pw"); err != nil {
		t.Fatal(err)
	}
	badSig := signed(t, key, "alice", 2, L, P)
	badSig.Signature[3] ^= 1
	refusals := []struct {
		name   string
		c      host.Host
		t      *wire.SignedTicket
		list   *wire.SignedAccountDevices
		sealed []byte
		want   error
	}{
		{"same version", phone, pr.Ticket.Signed, signed(t, key, "alice", 1, L, P), nil, login.ErrStale},
		{"other identity", phone, pr.Ticket.Signed, signed(t, accountKey(t), "alice", 2, L, P), sealed, login.ErrStale},
		{"without the asker", phone, pr.Ticket.Signed, signed(t, key, "alice", 2, L), nil, login.ErrNotListed},
		{"revoked device listed", phone, pr.Ticket.Signed, signed(t, key, "alice", 2, L, P, T), nil, login.ErrListedRevoked},
		{"bad signature", phone, pr.Ticket.Signed, badSig, nil, login.ErrBadRequest},
		{"another account's list", phone, pr.Ticket.Signed, signed(t, key, "bob", 2, L, P), nil, login.ErrBadRequest},
		{"a stolen ticket", laptop, pr.Ticket.Signed, signed(t, key, "alice", 2, L, P), nil, login.ErrUnauthorized},
		{"revoked device", tablet, tr.Ticket.Signed, signed(t, key, "alice", 2, L, P), nil, login.ErrDeviceRevoked},
		{"sealed key too large", phone, pr.Ticket.Signed, signed(t, key, "alice", 2, L, P), make([]byte, wire.MaxAccountKeySealed+1), login.ErrBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			held, err := login.PublishDevices(ctx, tt.c, server, tt.t, tt.list, tt.sealed)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			// Stale: the answer is what the server holds, to adopt.
			if tt.want == login.ErrStale && (held == nil || !proto.Equal(held.Devices, v1) || !bytes.Equal(held.Sealed, sealed)) {
				t.Fatalf("stale answer %v", held)
			}
		})
	}
	v2 := signed(t, key, "alice", 2, L, P)
	if held, err := login.PublishDevices(ctx, phone, server, pr.Ticket.Signed, v2, nil); err != nil || !proto.Equal(held.Devices, v2) {
		t.Fatalf("second list: %v, %v", held, err)
	}
	// Published again (an answer lost): the same, no error.
	if _, err := login.PublishDevices(ctx, laptop, server, lr.Ticket.Signed, v2, nil); err != nil {
		t.Fatalf("the same list again: %v", err)
	}
	if res := signIn(laptop, 1); res.AccountDevices == nil || res.AccountDevices.Version != 2 || !res.AccountDevices.Has(phone.ID()) {
		t.Fatalf("login after the second list: %+v", res.AccountDevices)
	}
}

// TestFirstDevicesRace: two first devices publish their identities at
// once: one succeeds, the other gets ErrStale with the winner's identity,
// the one the server holds.
func TestFirstDevicesRace(t *testing.T) {
	server := startServer(t, &clock{t: time.Now()})
	ctx := context.Background()
	a, b := newClient(t), newClient(t)
	if err := login.Register(ctx, a, server, "carol", "pw"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		held *wire.AccountIdentity
		err  error
		list *wire.SignedAccountDevices
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i, c := range []host.Host{a, b} {
		res, err := login.Login(ctx, c, server, login.Request{Username: "carol", Password: "pw", BoxKey: box(byte(i + 1))})
		if err != nil {
			t.Fatal(err)
		}
		list := signed(t, accountKey(t), "carol", 1, ticket.Device{Peer: c.ID(), BoxKey: box(byte(i + 1))})
		wg.Add(1)
		go func() {
			defer wg.Done()
			held, err := login.PublishDevices(ctx, c, server, res.Ticket.Signed, list, []byte(fmt.Sprintf("seal %d", i)))
			results[i] = result{held, err, list}
		}()
	}
	wg.Wait()
	won, lost := results[0], results[1]
	if won.err != nil {
		won, lost = lost, won
	}
	if won.err != nil || !errors.Is(lost.err, login.ErrStale) {
		t.Fatalf("errors %v and %v, want one nil and one ErrStale", won.err, lost.err)
	}
	if !proto.Equal(won.held, lost.held) || !proto.Equal(won.held.Devices, won.list) {
		t.Fatalf("the loser holds %v, the winner %v", lost.held, won.held)
	}
}

// TestChangePasswordReseal: with an identity, a password change reseals
// it with the new export key and the server stores that seal with the new
// record; without reseal it is refused and nothing changes, as when reseal
// fails.
func TestChangePasswordReseal(t *testing.T) {
	server := startServer(t, &clock{t: time.Now()})
	ctx := context.Background()
	c := newClient(t)
	if err := login.Register(ctx, c, server, "alice", "old"); err != nil {
		t.Fatal(err)
	}
	res, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "old", BoxKey: box(1)})
	if err != nil {
		t.Fatal(err)
	}
	list := signed(t, accountKey(t), "alice", 1, ticket.Device{Peer: c.ID(), BoxKey: box(1)})
	if _, err := login.PublishDevices(ctx, c, server, res.Ticket.Signed, list, []byte("seal old")); err != nil {
		t.Fatal(err)
	}
	failing := func([]byte) ([]byte, error) { return nil, errors.New("no key to reseal") }
	tooLarge := func([]byte) ([]byte, error) { return make([]byte, wire.MaxAccountKeySealed+1), nil }
	for _, tt := range []struct {
		name   string
		reseal func([]byte) ([]byte, error)
		want   error
	}{
		{"no reseal", nil, login.ErrBadRequest},
		{"reseal fails", failing, nil},
		{"reseal too large", tooLarge, login.ErrBadRequest},
	} {
		_, _, err := login.ChangePassword(ctx, c, server, "alice", "old", "new", tt.reseal)
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Fatalf("%s: %v, want %v", tt.name, err, tt.want)
		}
		// Nothing changed: the old password still opens the old seal.
		again, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "old", BoxKey: box(1)})
		if err != nil || !bytes.Equal(again.Account.GetSealed(), []byte("seal old")) {
			t.Fatalf("%s: after the refusal: %v, %v", tt.name, again, err)
		}
	}
	var given []byte
	_, newKey, err := login.ChangePassword(ctx, c, server, "alice", "old", "new", func(k []byte) ([]byte, error) {
		given = k
		return append([]byte("seal "), k[:4]...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(given, newKey) {
		t.Fatal("reseal was not given the new export key")
	}
	after, err := login.Login(ctx, c, server, login.Request{Username: "alice", Password: "new", BoxKey: box(1)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after.ExportKey, newKey) || !bytes.Equal(after.Account.GetSealed(), append([]byte("seal "), newKey[:4]...)) ||
		!proto.Equal(after.Account.GetDevices(), list) {
		t.Fatalf("after the change: %v", after.Account)
	}
}
