// Package apitest provides Fake, an in-memory api.API for testing front
// ends: the Fyne app's tests and the daemon's (node/rpc) use the same one,
// so a method added to api.API is faked once. It depends on node/api only,
// so the app may import it without pulling in libp2p or SQLite.
package apitest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"

	"eserver/node/api"
)

// Fake is an in-memory api.API that records every call (but Watch) as one
// "Method arg arg" string, and answers from its exported fields. Set the
// fields before the front end runs, or under Lock/Unlock while it does.
// A method fails with the error given to Fail for it, after being recorded.
type Fake struct {
	mu       sync.Mutex
	calls    []string
	errs     map[string]error
	nextID   int
	streamed []byte
	loginReq api.LoginRequest

	// Me is what Login returns (with the request's username and status)
	// and Account returns; the lists are what the methods of their names
	// return.
	Me               api.Account
	ContactList      []api.Contact
	ConversationList []api.Conversation
	DeviceList       []api.Device
	TransferList     []api.Transfer
	// Messages is what History returns, by contact; Hits what
	// SearchHistory searches (newest first, as the node gives them).
	Messages map[string][]api.Message
	Hits     []api.HistoryHit
	// Verified is VerifyContact's last word per contact, as SafetyNumber
	// reports it.
	Verified map[string]bool
	// Incoming is what AcceptStream's stream holds, by stream ID.
	Incoming map[string]string
	// SendID names the message Send stores; nil: m1, m2, ...
	SendID func(to string) string
	// Room is what the chat rooms' methods answer (rooms.go).
	Room FakeRooms
	// Voice is what the voice-call methods answer (calls.go).
	Voice FakeCalls
	// LoginGate, if not nil, holds Login until it is closed.
	LoginGate chan struct{}

	// Events are the events Watch delivers. Without a Snapshot, Watch
	// returns Events itself: a send on an unbuffered Events returns once
	// the front end took the event. With one, every Watch gets its own
	// channel that starts with *Snapshot, then forwards Events, and is
	// closed when its context ends or Events is closed.
	Events   chan api.Event
	Snapshot *api.Snapshot
}

var _ api.API = (*Fake)(nil)

// New returns a Fake with empty results and an Events buffer of 16.
func New() *Fake {
	return &Fake{
		errs:     map[string]error{},
		Messages: map[string][]api.Message{},
		Verified: map[string]bool{},
		Incoming: map[string]string{},
		Events:   make(chan api.Event, 16),
	}
}

// Lock and Unlock guard the exported fields while a front end runs.
func (f *Fake) Lock()   { f.mu.Lock() }
func (f *Fake) Unlock() { f.mu.Unlock() }

// Fail makes method (an api.API method name) return err; nil undoes it.
func (f *Fake) Fail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[method] = err
}

// record adds a call and returns the error set for its method.
func (f *Fake) record(method, format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := method
	if format != "" {
		call += " " + fmt.Sprintf(format, args...)
	}
	f.calls = append(f.calls, call)
	return f.errs[method]
}

// answer records a call of method without arguments and returns *v.
func answer[T any](f *Fake, method string, v *T) (T, error) {
	err := f.record(method, "")
	f.mu.Lock()
	defer f.mu.Unlock()
	return *v, err
}

// Calls returns the calls so far, one "Method arg arg" string each.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Called reports whether a call starting with prefix was made.
func (f *Fake) Called(prefix string) bool {
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// ResetCalls forgets the calls so far.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// LoginRequest is the last request Login was given.
func (f *Fake) LoginRequest() api.LoginRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loginReq
}

// Streamed is what was written to the streams OpenStream opened so far.
func (f *Fake) Streamed() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.streamed)
}

func (f *Fake) Register(_ context.Context, server, username, password string) error {
	return f.record("Register", "%s %s %s", server, username, password)
}

func (f *Fake) Login(ctx context.Context, req api.LoginRequest) (api.Account, error) {
	if f.LoginGate != nil {
		select {
		case <-f.LoginGate:
		case <-ctx.Done():
			return api.Account{}, ctx.Err()
		}
	}
	err := f.record("Login", "%s %s %s %s", req.Server, req.Username, req.Password, req.Status)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loginReq = req
	if err != nil {
		return api.Account{}, err
	}
	acc := f.Me
	acc.Username, acc.Status = req.Username, req.Status
	return acc, nil
}

func (f *Fake) Logout(context.Context) error { return f.record("Logout", "") }

func (f *Fake) Account(context.Context) (api.Account, error) { return answer(f, "Account", &f.Me) }

func (f *Fake) AddContact(_ context.Context, username, message string) error {
	return f.record("AddContact", "%s %s", username, message)
}

func (f *Fake) AcceptContact(_ context.Context, username string) error {
	return f.record("AcceptContact", "%s", username)
}

func (f *Fake) DeclineContact(_ context.Context, username string) error {
	return f.record("DeclineContact", "%s", username)
}

func (f *Fake) BlockContact(_ context.Context, username string) error {
	return f.record("BlockContact", "%s", username)
}

func (f *Fake) UnblockContact(_ context.Context, username string) error {
	return f.record("UnblockContact", "%s", username)
}

func (f *Fake) RemoveContact(_ context.Context, username string) error {
	return f.record("RemoveContact", "%s", username)
}

func (f *Fake) Contacts(context.Context) ([]api.Contact, error) {
	return answer(f, "Contacts", &f.ContactList)
}

func (f *Fake) SetContactGroup(_ context.Context, username, group string) error {
	return f.record("SetContactGroup", "%s %s", username, group)
}

func (f *Fake) RenameContact(_ context.Context, username, alias string) error {
	return f.record("RenameContact", "%s %s", username, alias)
}

// SetPresence records the fields given, "status=away nick=Al".
func (f *Fake) SetPresence(_ context.Context, u api.PresenceUpdate) error {
	var parts []string
	if u.Status != nil {
		parts = append(parts, "status="+string(*u.Status))
	}
	for _, p := range []struct {
		name string
		v    *string
	}{{"nick", u.Nick}, {"subnick", u.Subnick}, {"media", u.Media}} {
		if p.v != nil {
			parts = append(parts, p.name+"="+*p.v)
		}
	}
	return f.record("SetPresence", "%s", strings.Join(parts, " "))
}

func (f *Fake) SetAvatar(_ context.Context, path string, crop api.Crop) error {
	return f.record("SetAvatar", "%s %d %d %d", path, crop.X, crop.Y, crop.Size)
}

func (f *Fake) Typing(_ context.Context, to string) error { return f.record("Typing", "%s", to) }
func (f *Fake) Nudge(_ context.Context, to string) error  { return f.record("Nudge", "%s", to) }

// Invite returns with when it is a conversation, else a new conversation's
// ID.
func (f *Fake) Invite(_ context.Context, with, username string) (string, error) {
	err := f.record("Invite", "%s %s", with, username)
	if api.IsConversation(with) {
		return with, err
	}
	return "#00000000000000000000000000000001", err
}

func (f *Fake) LeaveConversation(_ context.Context, id string) error {
	return f.record("LeaveConversation", "%s", id)
}

func (f *Fake) Conversations(context.Context) ([]api.Conversation, error) {
	return answer(f, "Conversations", &f.ConversationList)
}

// SearchHistory returns the Hits whose text contains every word of the
// query (case-insensitively; punctuation only separates words, as at the
// node), limited to q.With when set, older than q.Before when set, at most
// q.Limit when set. With no words it fails as the node does.
func (f *Fake) SearchHistory(_ context.Context, q api.HistoryQuery) ([]api.HistoryHit, error) {
	if err := f.record("SearchHistory", "%q %q %d %d", q.Text, q.With, q.Limit, q.Before); err != nil {
		return nil, err
	}
	words := strings.FieldsFunc(strings.ToLower(q.Text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: no words", api.ErrBadRequest)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.HistoryHit
	for _, h := range f.Hits {
		if q.With != "" && h.From != q.With && h.To != q.With || q.Before > 0 && h.Seq >= q.Before {
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(strings.ToLower(h.Text), w)
		}
		if all {
			out = append(out, h)
		}
	}
	return out, nil
}

// SetSupernode records the settings given, "allowed=true uploadCap=0".
func (f *Fake) SetSupernode(_ context.Context, s api.SupernodeSettings) error {
	var parts []string
	if s.Allowed != nil {
		parts = append(parts, fmt.Sprintf("allowed=%v", *s.Allowed))
	}
	if s.UploadCap != nil {
		parts = append(parts, fmt.Sprintf("uploadCap=%d", *s.UploadCap))
	}
	return f.record("SetSupernode", "%s", strings.Join(parts, " "))
}

func (f *Fake) Devices(context.Context) ([]api.Device, error) {
	return answer(f, "Devices", &f.DeviceList)
}

func (f *Fake) RevokeDevice(_ context.Context, peerID, password string) error {
	return f.record("RevokeDevice", "%s", strings.TrimSpace(peerID+" "+password))
}

func (f *Fake) ChangePassword(_ context.Context, old, new string) error {
	return f.record("ChangePassword", "%s %s", old, new)
}

// stream is the writing end of a stream the fake opened.
type stream struct{ f *Fake }

func (s stream) Write(p []byte) (int, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.streamed = append(s.f.streamed, p...)
	return len(p), nil
}

func (s stream) Close() error { return s.f.record("CloseStream", "") }

// OpenStream opens stream "s1"; what is written to it is Streamed.
func (f *Fake) OpenStream(_ context.Context, to, label string) (string, io.WriteCloser, error) {
	if err := f.record("OpenStream", "%s %s", to, label); err != nil {
		return "", nil, err
	}
	return "s1", stream{f}, nil
}

// AcceptStream reads Incoming[id]; ErrBadRequest when there is none.
func (f *Fake) AcceptStream(_ context.Context, id string) (io.ReadCloser, error) {
	if err := f.record("AcceptStream", "%s", id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	content, ok := f.Incoming[id]
	if !ok {
		return nil, api.ErrBadRequest
	}
	return io.NopCloser(strings.NewReader(content)), nil
}

// SendFile offers transfer "t1".
func (f *Fake) SendFile(_ context.Context, to, path string) (string, error) {
	return "t1", f.record("SendFile", "%s %s", to, path)
}

func (f *Fake) AcceptFile(_ context.Context, id, dir string) error {
	return f.record("AcceptFile", "%s %s", id, dir)
}

func (f *Fake) DeclineFile(_ context.Context, id string) error {
	return f.record("DeclineFile", "%s", id)
}

func (f *Fake) PauseTransfer(_ context.Context, id string) error {
	return f.record("PauseTransfer", "%s", id)
}

func (f *Fake) ResumeTransfer(_ context.Context, id string) error {
	return f.record("ResumeTransfer", "%s", id)
}

func (f *Fake) CancelTransfer(_ context.Context, id string) error {
	return f.record("CancelTransfer", "%s", id)
}

func (f *Fake) Transfers(context.Context) ([]api.Transfer, error) {
	return answer(f, "Transfers", &f.TransferList)
}

// SafetyNumber answers a fixed number, verified as Verified says.
func (f *Fake) SafetyNumber(_ context.Context, username string) (api.Safety, error) {
	err := f.record("SafetyNumber", "%s", username)
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.Safety{Username: username, Number: "11111 22222 33333 44444 55555 66666 77777 88888 99999 00000 12345 67890",
		Code: "AQID", Verified: f.Verified[username]}, err
}

func (f *Fake) VerifyContact(_ context.Context, v api.Verification) error {
	if err := f.record("VerifyContact", "%s %v %q", v.Username, v.Verified, v.Code); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Verified[v.Username] = v.Verified
	return nil
}

// Send returns the new message's ID (see SendID).
func (f *Fake) Send(_ context.Context, to, text string) (string, error) {
	if err := f.record("Send", "%s %s", to, text); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.SendID != nil {
		return f.SendID(to), nil
	}
	f.nextID++
	return fmt.Sprintf("m%d", f.nextID), nil
}

// History pages through Messages[with] (oldest first) as the node does:
// the last limit messages older than the one with ID before (all older ones
// when limit is not positive; all when before is empty or not found).
// MarkRead records the call; the node's Read event that would follow is
// the test's to push.
func (f *Fake) MarkRead(_ context.Context, conversation string) error {
	return f.record("MarkRead", "%s", conversation)
}

func (f *Fake) History(_ context.Context, with string, limit int, before string) ([]api.Message, error) {
	err := f.record("History", "%s %d %q", with, limit, before)
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := f.Messages[with]
	if before != "" {
		for i, m := range ms {
			if m.ID == before {
				ms = ms[:i]
				break
			}
		}
	}
	if limit > 0 && len(ms) > limit {
		ms = ms[len(ms)-limit:]
	}
	return append([]api.Message(nil), ms...), err
}

// Watch is not recorded: front ends call it as they start.
func (f *Fake) Watch(ctx context.Context) <-chan api.Event {
	f.mu.Lock()
	snap, events := f.Snapshot, f.Events
	f.mu.Unlock()
	if snap == nil {
		return events
	}
	out := make(chan api.Event, 16)
	first := *snap
	go func() {
		defer close(out)
		ev, ok := api.Event{Snapshot: &first}, true
		for ok {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
			select {
			case ev, ok = <-events:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
