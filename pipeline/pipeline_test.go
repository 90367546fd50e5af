package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"eserver/node/ticket"
	"eserver/node/wire"
)

const testProto = protocol.ID("/eserver-test/pipeline/1")

// The tests speak the contacts messages: a request carrying a ticket, an
// answer carrying an error code.
type (
	req  = wire.ContactsRequest
	resp = wire.ContactsResponse
)

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func idOf(t testing.TB, k crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := NewHost(newKey(t), []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func sign(t testing.TB, server crypto.PrivKey, p peer.ID, role string, issued, expiry time.Time) *wire.SignedTicket {
	t.Helper()
	st, err := ticket.Sign(server, ticket.Ticket{Username: "alice", Peer: p, Device: "d", Issued: issued, Expiry: expiry, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func getReq(st *wire.SignedTicket) *req {
	return &req{Kind: &wire.ContactsRequest_Get{Get: &wire.ContactsGet{Ticket: st}}}
}

// fixture is a server host serving one Service through a Listener, and a
// client host connected to it.
type fixture struct {
	auth           crypto.PrivKey
	now            time.Time
	server, client host.Host
	revoked        map[peer.ID]bool
	l              *Listener
	svc            *Service[*req, *resp]
	processed      atomic.Int32
	refusedWith    atomic.Value // error
}

func newFixture(t *testing.T, edit func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{auth: newKey(t), now: time.Unix(1_800_000_000, 0), server: newHost(t), client: newHost(t), revoked: map[peer.ID]bool{}}
	f.l = NewListener(nil)
	t.Cleanup(func() { f.l.Close() })
	f.svc = &Service[*req, *resp]{
		Protocol:   testProto,
		MaxRequest: 4 << 10,
		Timeout:    time.Minute,
		Auth: &Authenticator{Server: idOf(t, f.auth), Now: func() time.Time { return f.now },
			Revoked: RevokedPeers(func(p peer.ID) bool { return f.revoked[p] })},
		Credentials: func(r *req) (Credential, error) {
			switch k := r.GetKind().(type) {
			case *wire.ContactsRequest_Get:
				return Ticket(k.Get.GetTicket()), nil
			case *wire.ContactsRequest_Put:
				return TicketOfRole(k.Put.GetTicket(), ticket.RoleSupernode), nil
			}
			return Credential{}, errors.New("no kind")
		},
		Process: func(_ context.Context, r *Request[*req]) (*resp, error) {
			f.processed.Add(1)
			if r.Ticket == nil || r.Ticket.Peer != r.Remote {
				return nil, errors.New("process reached without the remote's ticket")
			}
			return &resp{Version: 7}, nil
		},
		Refuse: func(_ *req, r Refusal) *resp {
			if r.Err != nil {
				f.refusedWith.Store(r.Err)
			}
			return &resp{Error: r.Code}
		},
	}
	if edit != nil {
		edit(f)
	}
	if !f.svc.Attach(f.l, f.server) {
		t.Fatal("attach refused on an open listener")
	}
	if err := f.client.Connect(context.Background(), peer.AddrInfo{ID: f.server.ID(), Addrs: f.server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return f
}

// send writes raw bytes on a new stream and returns the answer, or the
// error reading it (a reset stream).
func (f *fixture) send(t *testing.T, raw []byte) (*resp, error) {
	t.Helper()
	s, err := f.client.NewStream(context.Background(), f.server.ID(), testProto)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := s.Write(raw); err != nil {
		return nil, err
	}
	_ = s.CloseWrite()
	var r resp
	if err := wire.ReadMsg(s, 4<<10, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func frame(t testing.TB, m *req) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := wire.WriteMsg(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestServiceStages drives every refusal and the success path over real
// hosts: only an authenticated request reaches Process, and every refusal
// is an answer carrying its code.
func TestServiceStages(t *testing.T) {
	f := newFixture(t, nil)
	me := f.client.ID()
	valid := sign(t, f.auth, me, ticket.RoleNode, f.now.Add(-time.Hour), f.now.Add(time.Hour))
	tests := []struct {
		name    string
		raw     func() []byte
		setup   func()
		code    string // "" with version 7: processed
		wantErr error  // what the refusal wraps
		reset   bool   // no answer at all
	}{
		{name: "valid ticket", raw: func() []byte { return frame(t, getReq(valid)) }},
		{name: "no ticket", raw: func() []byte { return frame(t, getReq(nil)) }, code: CodeUnauthorized, wantErr: ErrUnauthenticated},
		{name: "bad signature", raw: func() []byte {
			return frame(t, getReq(sign(t, newKey(t), me, ticket.RoleNode, f.now.Add(-time.Hour), f.now.Add(time.Hour))))
		}, code: CodeUnauthorized, wantErr: ticket.ErrBadSignature},
		{name: "expired", raw: func() []byte {
			return frame(t, getReq(sign(t, f.auth, me, ticket.RoleNode, f.now.Add(-2*time.Hour), f.now.Add(-time.Hour))))
		}, code: CodeUnauthorized, wantErr: ticket.ErrExpired},
		{name: "ticket of another peer", raw: func() []byte {
			return frame(t, getReq(sign(t, f.auth, idOf(t, newKey(t)), ticket.RoleNode, f.now.Add(-time.Hour), f.now.Add(time.Hour))))
		}, code: CodeUnauthorized, wantErr: ticket.ErrWrongPeer},
		{name: "revoked", raw: func() []byte { return frame(t, getReq(valid)) }, setup: func() { f.revoked[me] = true },
			code: CodeUnauthorized, wantErr: ErrRevoked},
		{name: "wrong role", raw: func() []byte {
			return frame(t, &req{Kind: &wire.ContactsRequest_Put{Put: &wire.ContactsPut{Ticket: valid}}})
		}, code: CodeUnauthorized, wantErr: ErrWrongRole},
		{name: "no known kind", raw: func() []byte { return frame(t, &req{}) }, code: CodeBadRequest},
		{name: "oversized frame", raw: func() []byte { return binary.AppendUvarint(nil, 4<<10+1) }, reset: true},
		{name: "malformed frame", raw: func() []byte { return []byte{3, 0xff, 0xff, 0xff} }, reset: true},
		{name: "truncated frame", raw: func() []byte { return []byte{10, 1, 2} }, reset: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(f.revoked)
			f.refusedWith = atomic.Value{}
			if tt.setup != nil {
				tt.setup()
			}
			before := f.processed.Load()
			got, err := f.send(t, tt.raw())
			processed := f.processed.Load() - before
			switch {
			case tt.reset:
				if err == nil {
					t.Fatalf("answered %v, want a reset stream", got)
				}
				if processed != 0 {
					t.Fatal("a bad frame reached Process")
				}
				return
			case err != nil:
				t.Fatalf("no answer: %v", err)
			}
			if got.GetError() != tt.code {
				t.Fatalf("answered code %q, want %q", got.GetError(), tt.code)
			}
			if tt.code == "" {
				if got.GetVersion() != 7 || processed != 1 {
					t.Fatalf("success path: version %d, processed %d times", got.GetVersion(), processed)
				}
				return
			}
			if processed != 0 {
				t.Fatal("a refused request reached Process")
			}
			if tt.wantErr != nil {
				refused, _ := f.refusedWith.Load().(error)
				if !errors.Is(refused, tt.wantErr) {
					t.Fatalf("refused with %v, want %v", refused, tt.wantErr)
				}
			}
		})
	}
}

// TestUnauthenticatedIsExplicit: a request passes without a ticket only
// when Credentials says Unauthenticated; a service that declares no
// Credentials, or no Authenticator, refuses everything.
func TestUnauthenticatedIsExplicit(t *testing.T) {
	tests := []struct {
		name string
		edit func(*fixture)
		code string
	}{
		{"declared unauthenticated", func(f *fixture) {
			f.svc.Credentials = func(*req) (Credential, error) { return Unauthenticated("test: no ticket yet"), nil }
			f.svc.Process = func(_ context.Context, r *Request[*req]) (*resp, error) {
				if r.Ticket != nil {
					return nil, errors.New("ticket on an unauthenticated request")
				}
				return &resp{Version: 1}, nil
			}
		}, ""},
		{"no credentials declared", func(f *fixture) { f.svc.Credentials = nil }, CodeUnauthorized},
		{"zero credential", func(f *fixture) {
			f.svc.Credentials = func(*req) (Credential, error) { return Credential{}, nil }
		}, CodeUnauthorized},
		{"no authenticator", func(f *fixture) { f.svc.Auth = nil }, CodeUnauthorized},
		{"security refuses", func(f *fixture) {
			f.svc.Security = func(*Request[*req]) error { return errors.New("does not open") }
		}, CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.edit)
			st := sign(t, f.auth, f.client.ID(), ticket.RoleNode, f.now.Add(-time.Hour), f.now.Add(time.Hour))
			got, err := f.send(t, frame(t, getReq(st)))
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if got.GetError() != tt.code {
				t.Fatalf("answered %q, want %q", got.GetError(), tt.code)
			}
		})
	}
}

// TestAnswerMalformed: a service that answers bad frames says bad_request
// instead of resetting; a stream that merely ends is still reset.
func TestAnswerMalformed(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.svc.AnswerMalformed = true })
	for _, raw := range [][]byte{binary.AppendUvarint(nil, 4<<10+1), {3, 0xff, 0xff, 0xff}, bytes.Repeat([]byte{0xff}, 11)} {
		got, err := f.send(t, raw)
		if err != nil || got.GetError() != CodeBadRequest {
			t.Fatalf("frame %x: answered %v, %v; want %q", raw, got, err, CodeBadRequest)
		}
	}
	if got, err := f.send(t, nil); err == nil {
		t.Fatalf("empty stream answered %v", got)
	}
}

// countingReader counts the bytes read from it and never ends.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	c.n += len(p)
	for i := range p {
		p[i] = 0
	}
	return len(p), nil
}

// TestOversizedRejectedBeforeRead: a frame claiming more than MaxRequest is
// refused from its length alone; its body is never read, so it is never
// allocated.
func TestOversizedRejectedBeforeRead(t *testing.T) {
	f := newFixture(t, nil)
	body := &countingReader{}
	claim := binary.AppendUvarint(nil, 1<<40)
	var out bytes.Buffer
	err := f.svc.Serve(context.Background(), struct {
		io.Reader
		io.Writer
	}{io.MultiReader(bytes.NewReader(claim), body), &out}, f.client.ID(), nil)
	if !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("serve: %v, want %v", err, wire.ErrFrameTooLarge)
	}
	if body.n != 0 || out.Len() != 0 {
		t.Fatalf("read %d body bytes and answered %d bytes", body.n, out.Len())
	}
}

// goroutinesIn counts the goroutines whose stack holds fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}

// eventually waits for cond, failing after a generous bound; it asserts no
// duration, it only keeps a broken test from hanging.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestCloseResetsAndWaits: Close resets the streams in flight (some blocked
// reading, one blocked in Process), cancels the context Process and Go
// functions see, and returns only when their goroutines have: none outlives
// the Listener.
func TestCloseResetsAndWaits(t *testing.T) {
	inProcess := make(chan struct{})
	var processReturned, goReturned atomic.Bool
	f := newFixture(t, func(f *fixture) {
		f.svc.Process = func(ctx context.Context, r *Request[*req]) (*resp, error) {
			close(inProcess)
			<-ctx.Done()
			processReturned.Store(true)
			return nil, ctx.Err()
		}
	})
	baseline := runtime.NumGoroutine()
	if !f.l.Go(func(ctx context.Context) { <-ctx.Done(); goReturned.Store(true) }) {
		t.Fatal("Go refused on an open listener")
	}
	const blocked = 3
	var wg sync.WaitGroup
	errs := make(chan error, blocked+1)
	open := func(raw []byte) {
		s, err := f.client.NewStream(context.Background(), f.server.ID(), testProto)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(raw); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r resp
			errs <- wire.ReadMsg(s, 4<<10, &r)
			_ = s.Reset()
		}()
	}
	for range blocked {
		open([]byte{5}) // a length, then nothing: the handler blocks reading
	}
	st := sign(t, f.auth, f.client.ID(), ticket.RoleNode, f.now.Add(-time.Hour), f.now.Add(time.Hour))
	open(frame(t, getReq(st)))
	<-inProcess
	eventually(t, "every stream in flight", func() bool { return f.l.InFlight() == blocked+1 })
	if n := goroutinesIn("pipeline.(*Listener).listen("); n != blocked+1 {
		t.Fatalf("%d handler goroutines, want %d", n, blocked+1)
	}

	if !f.l.Close() {
		t.Fatal("first Close reported already closed")
	}
	// Close returned: nothing it started may still run, with no waiting.
	if n := goroutinesIn("pipeline.(*Listener).listen("); n != 0 {
		t.Fatalf("%d handler goroutines outlived Close", n)
	}
	if !processReturned.Load() || !goReturned.Load() {
		t.Fatalf("Close returned before Process (%v) or a Go function (%v)", processReturned.Load(), goReturned.Load())
	}
	if f.l.InFlight() != 0 {
		t.Fatalf("%d streams tracked after Close", f.l.InFlight())
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("a stream in flight got an answer instead of a reset")
		}
	}
	if f.l.Close() {
		t.Fatal("second Close reported closing")
	}
	if f.l.Go(func(context.Context) {}) || f.svc.Attach(f.l, f.server) {
		t.Fatal("Go or Attach accepted after Close")
	}
	if _, err := f.send(t, frame(t, getReq(st))); err == nil {
		t.Fatal("served after Close")
	}
	// The hosts keep their own goroutines; ours are gone. Bounded wait for
	// the client-side readers and the stream machinery to wind down.
	eventually(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

// TestAuthenticate covers the stage on its own, as the node's long-lived
// streams and mail will call it.
func TestAuthenticate(t *testing.T) {
	auth := newKey(t)
	server := idOf(t, auth)
	now := time.Unix(1_800_000_000, 0)
	me := idOf(t, newKey(t))
	st := sign(t, auth, me, ticket.RoleNode, now.Add(-time.Minute), now.Add(time.Minute))
	tests := []struct {
		name string
		a    *Authenticator
		want error
	}{
		{"valid", &Authenticator{Server: server, Now: func() time.Time { return now }}, nil},
		{"nil authenticator", nil, ErrUnauthenticated},
		{"no server", &Authenticator{Now: func() time.Time { return now }}, ErrUnauthenticated},
		{"another server", &Authenticator{Server: me, Now: func() time.Time { return now }}, ErrUnauthenticated},
		{"expired", &Authenticator{Server: server, Now: func() time.Time { return now.Add(time.Hour) }}, ticket.ErrExpired},
		{"revoked", &Authenticator{Server: server, Now: func() time.Time { return now },
			Revoked: RevokedPeers(func(p peer.ID) bool { return p == me })}, ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.a.Authenticate(me, st)
			if tt.want == nil {
				if err != nil || got == nil || got.Peer != me {
					t.Fatalf("Authenticate: %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrUnauthenticated) || got != nil {
				t.Fatalf("Authenticate: %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestAuthenticateAt: an item's ticket must have been valid when the item
// was handed over — however long it waited since — and not revoked now.
func TestAuthenticateAt(t *testing.T) {
	auth := newKey(t)
	server := idOf(t, auth)
	issued := time.Unix(1_800_000_000, 0)
	me := idOf(t, newKey(t))
	st := sign(t, auth, me, ticket.RoleNode, issued, issued.Add(time.Hour))
	valid := &Authenticator{Server: server}
	tests := []struct {
		name string
		a    *Authenticator
		at   time.Time
		want error
	}{
		{"handed over while valid", valid, issued.Add(30 * time.Minute), nil},
		{"valid then, long expired now", &Authenticator{Server: server, Now: func() time.Time { return issued.Add(30 * 24 * time.Hour) }}, issued.Add(30 * time.Minute), nil},
		{"handed over after expiry", valid, issued.Add(time.Hour), ticket.ErrExpired},
		{"handed over long before issue", valid, issued.Add(-time.Hour), ErrUnauthenticated},
		{"another server", &Authenticator{Server: me}, issued.Add(time.Minute), ErrUnauthenticated},
		{"no server", &Authenticator{}, issued.Add(time.Minute), ErrUnauthenticated},
		{"revoked since", &Authenticator{Server: server, Revoked: RevokedPeers(func(p peer.ID) bool { return p == me })}, issued.Add(time.Minute), ErrRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.a.AuthenticateAt(st, tt.at)
			if tt.want == nil {
				if err != nil || got == nil || got.Peer != me {
					t.Fatalf("AuthenticateAt: %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrUnauthenticated) || got != nil {
				t.Fatalf("AuthenticateAt: %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// FuzzServe: whatever bytes arrive, Serve neither panics nor lets an
// unauthenticated request reach Process, and every answer decodes.
func FuzzServe(f *testing.F) {
	auth := newKey(f)
	now := time.Unix(1_800_000_000, 0)
	remote := idOf(f, newKey(f))
	st := sign(f, auth, remote, ticket.RoleNode, now.Add(-time.Minute), now.Add(time.Minute))
	f.Add(frame(f, getReq(st)))
	f.Add(frame(f, getReq(nil)))
	f.Add(frame(f, &req{}))
	f.Add([]byte{})
	f.Add(binary.AppendUvarint(nil, 1<<20))
	f.Add(bytes.Repeat([]byte{0xff}, 11))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, answer := range []bool{false, true} {
			svc := &Service[*req, *resp]{
				Protocol: testProto, MaxRequest: 4 << 10, Timeout: time.Minute, AnswerMalformed: answer,
				Auth: &Authenticator{Server: idOf(t, auth), Now: func() time.Time { return now }},
				Credentials: func(r *req) (Credential, error) {
					if g := r.GetGet(); g != nil {
						return Ticket(g.GetTicket()), nil
					}
					return Credential{}, errors.New("no kind")
				},
				Process: func(_ context.Context, r *Request[*req]) (*resp, error) {
					if r.Ticket == nil || r.Ticket.Peer != remote {
						t.Fatal("unauthenticated request processed")
					}
					return &resp{Version: 1}, nil
				},
				Refuse: func(_ *req, r Refusal) *resp { return &resp{Error: r.Code} },
			}
			var out bytes.Buffer
			err := svc.Serve(context.Background(), struct {
				io.Reader
				io.Writer
			}{bytes.NewReader(b), &out}, remote, nil)
			if err == nil {
				var r resp
				if derr := wire.ReadMsg(&out, 4<<10, &r); derr != nil {
					t.Fatalf("answer does not decode: %v", derr)
				}
			} else if out.Len() != 0 {
				t.Fatalf("failed (%v) after answering", err)
			}
		}
	})
}
