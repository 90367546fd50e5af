package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"eserver/node/login"
	"eserver/node/ticket"
	"eserver/node/wire"
	"eserver/supernode/internal/sntest"
)

// waitFor polls cond until it holds, failing the test after a generous
// bound: it waits for an event, it does not time one.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serve runs r.Serve until the test ends and checks it returns nil then.
func serve(t *testing.T, r *Revocations) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestRevocationsFromAuthServer: a supernode polling a real auth server
// over the registry protocol learns of a device revoked there once kicked,
// refuses that device's still-unexpired ticket, and reports it once.
func TestRevocationsFromAuthServer(t *testing.T) {
	a := newAuthEnv(t, false)
	ctx := sntest.Ctx(t)
	laptop, phone, sn := sntest.Host(t), sntest.Host(t), sntest.Host(t)
	if err := login.Register(ctx, laptop, a.info, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := login.Register(ctx, sn, a.info, "operator", "pw"); err != nil {
		t.Fatal(err)
	}
	lres, err := login.Login(ctx, laptop, a.info, login.Request{Username: "alice", Password: "pw", Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	pres, err := login.Login(ctx, phone, a.info, login.Request{Username: "alice", Password: "pw", Device: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	sres, err := login.Login(ctx, sn, a.info, login.Request{Username: "operator", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	sn.Peerstore().AddAddrs(a.info.ID, a.info.Addrs, peerstore.PermanentAddrTTL)

	var revokedCalls []peer.ID
	var mu sync.Mutex
	rev := &Revocations{
		Auth:   a.info.ID,
		Host:   sn,
		Ticket: func() *wire.SignedTicket { return sres.Ticket.Signed },
		// Only kicks poll, so the test sees each poll it asks for.
		Interval: time.Hour,
		OnRevoke: func(p peer.ID) { mu.Lock(); revokedCalls = append(revokedCalls, p); mu.Unlock() },
	}
	serve(t, rev)
	waitFor(t, "the first poll", func() bool { return !rev.Updated().IsZero() })
	if rev.Serial() != 0 || rev.Revoked(phone.ID()) || rev.Check(pres.Ticket) != nil {
		t.Fatalf("before any revocation: serial %d", rev.Serial())
	}

	if err := login.RevokeDevice(ctx, laptop, a.info, lres.Ticket, phone.ID(), "pw"); err != nil {
		t.Fatal(err)
	}
	rev.Kick()
	waitFor(t, "the revocation", func() bool { return rev.Revoked(phone.ID()) })
	if err := rev.Check(pres.Ticket); !errors.Is(err, ErrTicketRevoked) {
		t.Fatalf("the phone's ticket: %v", err)
	}
	if rev.Check(lres.Ticket) != nil || rev.Serial() != 1 || rev.Len() != 1 {
		t.Fatalf("laptop revoked too, or serial %d, %d held", rev.Serial(), rev.Len())
	}
	// The phone's ticket still verifies offline: only the set stops it.
	if _, err := ticket.VerifyFor(a.info.ID, phone.ID(), pres.Ticket.Signed, time.Now()); err != nil {
		t.Fatalf("ticket: %v", err)
	}

	// Another poll brings nothing new and reports nothing again.
	before := rev.Updated()
	rev.Kick()
	waitFor(t, "another poll", func() bool { return rev.Updated() != before })
	mu.Lock()
	defer mu.Unlock()
	if len(revokedCalls) != 1 || revokedCalls[0] != phone.ID() {
		t.Fatalf("OnRevoke called with %v", revokedCalls)
	}
}

// TestRevocationsApply: pages apply in order, each peer reported once;
// pages that do not verify or do not follow on change nothing; entries
// leave once their horizon passes.
func TestRevocationsApply(t *testing.T) {
	key, other := sntest.Key(t), sntest.Key(t)
	clk := sntest.NewClock()
	var reported []peer.ID
	r := &Revocations{Auth: sntest.ID(t, key), Now: clk.Now, OnRevoke: func(p peer.ID) { reported = append(reported, p) }}
	pa, pb, pc := sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t))
	now := clk.Now()
	steps := []struct {
		name       string
		sr         *wire.SignedRevocations
		wantErr    error
		wantSerial uint64
		revoked    []peer.ID
		notRevoked []peer.ID
	}{
		{"first page", sntest.RevocationList(t, key, 0, 2, false,
			ticket.Revocation{Serial: 1, Peer: pa, Horizon: now.Add(time.Hour)},
			ticket.Revocation{Serial: 2, Peer: pb, Horizon: now.Add(-time.Second)}, // every ticket of pb has expired
		), nil, 2, []peer.ID{pa}, []peer.ID{pb}},
		{"a gap", sntest.RevocationList(t, key, 5, 6, false, ticket.Revocation{Serial: 6, Peer: pc, Horizon: now.Add(time.Hour)}),
			ErrRevocationGap, 2, []peer.ID{pa}, []peer.ID{pc}},
		{"another signer", sntest.RevocationList(t, other, 2, 3, false, ticket.Revocation{Serial: 3, Peer: pc, Horizon: now.Add(time.Hour)}),
			ticket.ErrBadRevocations, 2, nil, []peer.ID{pc}},
		{"the first page again", sntest.RevocationList(t, key, 0, 2, false, ticket.Revocation{Serial: 1, Peer: pa, Horizon: now.Add(time.Hour)}),
			nil, 2, []peer.ID{pa}, nil},
		{"an overlapping page", sntest.RevocationList(t, key, 1, 3, false,
			ticket.Revocation{Serial: 2, Peer: pb, Horizon: now.Add(-time.Second)},
			ticket.Revocation{Serial: 3, Peer: pc, Horizon: now.Add(2 * time.Hour)},
		), nil, 3, []peer.ID{pa, pc}, []peer.ID{pb}},
		{"a restored server's whole log", sntest.RevocationList(t, key, 0, 1, false, ticket.Revocation{Serial: 1, Peer: pa, Horizon: now.Add(time.Hour)}),
			nil, 1, []peer.ID{pa, pc}, nil},
	}
	for _, s := range steps {
		err := r.Apply(s.sr)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.wantErr)
		}
		if r.Serial() != s.wantSerial {
			t.Fatalf("%s: serial %d, want %d", s.name, r.Serial(), s.wantSerial)
		}
		for _, p := range s.revoked {
			if !r.Revoked(p) {
				t.Fatalf("%s: %s not revoked", s.name, p)
			}
		}
		for _, p := range s.notRevoked {
			if r.Revoked(p) {
				t.Fatalf("%s: %s revoked", s.name, p)
			}
		}
	}
	if len(reported) != 2 || reported[0] != pa || reported[1] != pc {
		t.Fatalf("reported %v, want each of %s, %s once", reported, pa, pc)
	}
	// Past pa's horizon its tickets are all expired: it leaves the set.
	clk.Advance(time.Hour)
	if err := r.Apply(sntest.RevocationList(t, key, 1, 1, false)); err != nil {
		t.Fatal(err)
	}
	if r.Revoked(pa) || !r.Revoked(pc) || r.Len() != 1 {
		t.Fatalf("after pa's horizon: pa %v, pc %v, %d held", r.Revoked(pa), r.Revoked(pc), r.Len())
	}

	// No set, no revocations: services may hold a nil one.
	var none *Revocations
	if none.Revoked(pa) || none.Check(&ticket.Ticket{Peer: pa}) != nil {
		t.Fatal("a nil set revoked something")
	}
}

// fetchStub serves scripted answers to Fetch and counts the calls.
type fetchStub struct {
	calls   atomic.Int32
	called  chan uint64 // since of each call
	answers func(call int, since uint64) (*wire.SignedRevocations, error)
}

func (f *fetchStub) fetch(ctx context.Context, since uint64) (*wire.SignedRevocations, error) {
	n := int(f.calls.Add(1))
	select {
	case f.called <- since:
	default:
	}
	return f.answers(n, since)
}

// TestRevocationsRetriesAndPages: a failed poll is retried up to Retries
// times, then the loop waits for the next interval or kick; a page that
// says more is followed at once.
func TestRevocationsRetriesAndPages(t *testing.T) {
	key := sntest.Key(t)
	pa, pb := sntest.ID(t, sntest.Key(t)), sntest.ID(t, sntest.Key(t))
	far := time.Now().Add(time.Hour)
	errDown := errors.New("auth server down")

	t.Run("retries then pages", func(t *testing.T) {
		stub := &fetchStub{called: make(chan uint64, 16), answers: func(call int, since uint64) (*wire.SignedRevocations, error) {
			switch {
			case call <= 2:
				return nil, errDown
			case since == 0:
				return sntest.RevocationList(t, key, 0, 1, true, ticket.Revocation{Serial: 1, Peer: pa, Horizon: far}), nil
			default:
				return sntest.RevocationList(t, key, 1, 2, false, ticket.Revocation{Serial: 2, Peer: pb, Horizon: far}), nil
			}
		}}
		r := &Revocations{Auth: sntest.ID(t, key), Fetch: stub.fetch, Interval: time.Hour, Retries: 2, RetryDelay: time.Millisecond}
		stop := serve(t, r)
		waitFor(t, "the first poll", func() bool { return !r.Updated().IsZero() })
		stop()
		if got := stub.calls.Load(); got != 4 || r.Serial() != 2 || !r.Revoked(pa) || !r.Revoked(pb) {
			t.Fatalf("%d fetches, serial %d; want 2 failures, 2 pages, serial 2", got, r.Serial())
		}
	})

	t.Run("gives up until kicked", func(t *testing.T) {
		stub := &fetchStub{called: make(chan uint64, 16), answers: func(int, uint64) (*wire.SignedRevocations, error) {
			return nil, errDown
		}}
		r := &Revocations{Auth: sntest.ID(t, key), Fetch: stub.fetch, Interval: time.Hour, Retries: 1, RetryDelay: time.Millisecond}
		stop := serve(t, r)
		for range 2 { // the first try and its one retry
			<-stub.called
		}
		r.Kick()
		for range 2 {
			<-stub.called
		}
		stop()
		if got := stub.calls.Load(); got != 4 || !r.Updated().IsZero() {
			t.Fatalf("%d fetches, want 2 per poll", got)
		}
	})

	t.Run("stops while waiting to retry", func(t *testing.T) {
		stub := &fetchStub{called: make(chan uint64, 16), answers: func(int, uint64) (*wire.SignedRevocations, error) {
			return nil, errDown
		}}
		r := &Revocations{Auth: sntest.ID(t, key), Fetch: stub.fetch, Retries: 5, RetryDelay: time.Hour}
		stop := serve(t, r)
		<-stub.called
		stop() // returns only once Serve has: no goroutine outlives it
	})

	t.Run("needs a source", func(t *testing.T) {
		if err := (&Revocations{Auth: sntest.ID(t, key)}).Serve(context.Background()); err == nil {
			t.Fatal("Serve without Fetch or Host and Ticket")
		}
	})
}

// FuzzApplyRevocations feeds arbitrary list bytes, signed by the auth
// server or not: a page that fails changes nothing.
func FuzzApplyRevocations(f *testing.F) {
	key := sntest.Key(f)
	pa := sntest.ID(f, sntest.Key(f))
	sr := sntest.RevocationList(f, key, 0, 1, false, ticket.Revocation{Serial: 1, Peer: pa, Horizon: time.Unix(4e9, 0)})
	f.Add(sr.List, sr.Signature, true)
	f.Add([]byte{}, []byte{}, false)
	auth := sntest.ID(f, key)
	f.Fuzz(func(t *testing.T, body, sig []byte, resign bool) {
		if resign {
			sig, _ = key.Sign(append([]byte("eserver-revocations-v1"), body...))
		}
		r := &Revocations{Auth: auth, Now: func() time.Time { return time.Unix(1e9, 0) }}
		if err := r.Apply(sr); err != nil {
			t.Fatal(err)
		}
		err := r.Apply(&wire.SignedRevocations{List: body, Signature: sig})
		if err != nil && (r.Serial() != 1 || r.Len() != 1) {
			t.Fatalf("a refused page changed the set: serial %d, %d held", r.Serial(), r.Len())
		}
	})
}
