package payload

import (
	"errors"
	"fmt"
	"testing"

	"eserver/node/api"
	"eserver/node/store"
	"eserver/node/ticket"
	"eserver/node/wire"
)

func TestDispatch(t *testing.T) {
	var r Registry
	var ran []string
	handler := func(name string) Handler {
		return func(in *Inbound) error { ran = append(ran, name+":"+in.From()); return nil }
	}
	r.Register(
		Kind{Of: (*wire.Payload_Chat)(nil), From: Accepted, Handle: handler("chat")},
		Kind{Of: (*wire.Payload_ContactRequest)(nil), From: Anyone, Handle: handler("request")},
		Kind{Of: (*wire.Payload_ContactResponse)(nil), From: From{Relations: []api.Relation{api.RelationPendingOut}}, Handle: handler("response")},
	)
	chat := &wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: "hi"}}}
	request := &wire.Payload{Kind: &wire.Payload_ContactRequest{ContactRequest: &wire.ContactRequest{}}}
	response := &wire.Payload{Kind: &wire.Payload_ContactResponse{ContactResponse: &wire.ContactResponse{}}}
	unknown := &wire.Payload{Kind: &wire.Payload_Signal{Signal: &wire.Signal{}}}
	tests := []struct {
		name    string
		p       *wire.Payload
		rel     api.Relation // "" with known false: a stranger
		known   bool
		wantErr error
		wantRan bool
	}{
		{"chat from an accepted contact", chat, api.RelationAccepted, true, nil, true},
		{"chat from a stranger", chat, "", false, ErrNotContact, false},
		{"chat from a blocked user looks like a stranger's", chat, api.RelationBlocked, true, ErrNotContact, false},
		{"chat from a pending contact", chat, api.RelationPendingIn, true, ErrNotContact, false},
		{"request from a stranger", request, "", false, nil, true},
		{"request from a blocked user reaches its handler", request, api.RelationBlocked, true, nil, true},
		{"answer we asked for", response, api.RelationPendingOut, true, nil, true},
		{"unsolicited answer is dropped silently", response, api.RelationAccepted, true, nil, false},
		{"unsolicited answer from a stranger is dropped silently", response, "", false, nil, false},
		{"kind nobody registered", unknown, api.RelationAccepted, true, ErrBadRequest, false},
		{"empty payload", &wire.Payload{}, api.RelationAccepted, true, ErrBadRequest, false},
		{"nil payload", nil, api.RelationAccepted, true, ErrBadRequest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ran = nil
			in := &Inbound{
				Ticket:  &ticket.Ticket{Username: "alice"},
				ID:      "m1",
				Payload: tc.p,
				Contact: store.Contact{Username: "alice", Relation: string(tc.rel)},
				Known:   tc.known,
			}
			err := r.Dispatch(in)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Dispatch = %v, want %v", err, tc.wantErr)
			}
			if got := len(ran) == 1; got != tc.wantRan {
				t.Fatalf("handler ran = %v (%v), want %v", got, ran, tc.wantRan)
			}
			if tc.wantRan && ran[0][len(ran[0])-len(":alice"):] != ":alice" {
				t.Fatalf("handler saw sender %q, want alice", ran[0])
			}
		})
	}
}

// TestDispatchOwnOnly: a kind only our own devices may send (a read mark)
// reaches its handler from another device of ours only; an accepted
// contact, a stranger and a blocked user are all refused with
// ErrNotOwnDevice, which the sender reads as not_contact. Kinds that admit
// contacts keep refusing our devices unless they say Own.
func TestDispatchOwnOnly(t *testing.T) {
	var r Registry
	var ran int
	r.Register(
		Kind{Of: (*wire.Payload_ReadMark)(nil), From: OwnOnly, Handle: func(*Inbound) error { ran++; return nil }},
		Kind{Of: (*wire.Payload_Chat)(nil), From: Accepted, Handle: func(*Inbound) error { ran++; return nil }},
	)
	mark := &wire.Payload{Kind: &wire.Payload_ReadMark{ReadMark: &wire.ReadMark{Conversation: "bob", UpToUnixMilli: 1, LastId: "m1"}}}
	chat := &wire.Payload{Kind: &wire.Payload_Chat{Chat: &wire.Chat{Text: "hi"}}}
	for _, tc := range []struct {
		name    string
		p       *wire.Payload
		rel     api.Relation
		known   bool
		own     bool
		wantErr error
	}{
		{"read mark from our other device", mark, "", false, true, nil},
		{"read mark from an accepted contact", mark, api.RelationAccepted, true, false, ErrNotOwnDevice},
		{"read mark from a stranger", mark, "", false, false, ErrNotOwnDevice},
		{"read mark from a blocked user", mark, api.RelationBlocked, true, false, ErrNotOwnDevice},
		{"chat from our other device without Own", chat, "", false, true, ErrNotContact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran = 0
			err := r.Dispatch(&Inbound{Ticket: &ticket.Ticket{Username: "alice"}, ID: "m1", Payload: tc.p,
				Contact: store.Contact{Username: "alice", Relation: string(tc.rel)}, Known: tc.known, Own: tc.own})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Dispatch = %v, want %v", err, tc.wantErr)
			}
			if want := tc.wantErr == nil; (ran == 1) != want {
				t.Fatalf("handler ran %d times, want ran = %v", ran, want)
			}
			if tc.wantErr != nil && Code(err) != string(ErrNotContact) {
				t.Fatalf("Code = %q, want not_contact", Code(err))
			}
		})
	}
	// One read mark handled, three refused; a kind never dispatched, none.
	if h, rf := r.Tally((*wire.Payload_ReadMark)(nil)); h != 1 || rf != 3 {
		t.Errorf("Tally(ReadMark) = %d handled, %d refused; want 1, 3", h, rf)
	}
	if h, rf := r.Tally((*wire.Payload_Presence)(nil)); h != 0 || rf != 0 {
		t.Errorf("Tally(Presence) = %d, %d; want none", h, rf)
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrNotContact, "not_contact"},
		{fmt.Errorf("%w: text too long", ErrBadRequest), "bad_request"},
		{fmt.Errorf("storing: %w", fmt.Errorf("%w: twice wrapped", ErrRateLimited)), "rate_limited"},
		{ErrSessionReset, "session_reset"},
		{errors.New("disk full"), "internal"},
	}
	for _, tc := range tests {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestRegisterRejectsMistakes(t *testing.T) {
	ok := func(*Inbound) error { return nil }
	tests := []struct {
		name  string
		kinds []Kind
	}{
		{"twice", []Kind{{Of: (*wire.Payload_Chat)(nil), Handle: ok}, {Of: (*wire.Payload_Chat)(nil), Handle: ok}}},
		{"no handler", []Kind{{Of: (*wire.Payload_Chat)(nil)}}},
		{"no type", []Kind{{Handle: ok}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("Register did not panic")
				}
			}()
			var r Registry
			r.Register(tc.kinds...)
		})
	}
}

// TestRegistered: kinds are told apart by their oneof wrapper type, typed
// nil or not (package node checks that every kind in wire.proto has one).
func TestRegistered(t *testing.T) {
	var r Registry
	r.Register(Kind{Of: (*wire.Payload_Chat)(nil), Handle: func(*Inbound) error { return nil }})
	if !r.Registered((*wire.Payload_Chat)(nil)) || !r.Registered(&wire.Payload_Chat{}) {
		t.Fatal("chat not registered")
	}
	if r.Registered((*wire.Payload_Presence)(nil)) {
		t.Fatal("presence registered")
	}
}
