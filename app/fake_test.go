package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"

	"eserver/node/api"
)

// fakeAPI is an in-memory api.API that records every call. Tests set its
// results before acting and push events with App.apply (or through events,
// which Watch returns).
type fakeAPI struct {
	mu    sync.Mutex
	calls []string

	account     api.Account // what Login returns, with the request's username
	loginErr    error
	registerErr error
	sendErr     error
	nextID      int
	history     map[string][]api.Message
	loginReq    api.LoginRequest
	events      chan api.Event
	verified    map[string]bool  // VerifyContact's last word per contact
	streamed    []byte           // written to streams the fake opened
	incoming    string           // what AcceptStream's stream holds
	nudgeErr    error            // what Nudge returns
	hits        []api.HistoryHit // what SearchHistory filters
	presenceErr error            // what SetPresence returns
}

var _ api.API = (*fakeAPI)(nil)

func newFakeAPI() *fakeAPI {
	return &fakeAPI{history: make(map[string][]api.Message), events: make(chan api.Event, 16)}
}

func (f *fakeAPI) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// Calls returns the calls so far, one "Method arg arg" string each.
func (f *fakeAPI) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// called reports whether a call starting with prefix was made.
func (f *fakeAPI) called(prefix string) bool {
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func (f *fakeAPI) Register(_ context.Context, server, username, password string) error {
	f.record("Register %s %s %s", server, username, password)
	return f.registerErr
}

func (f *fakeAPI) Login(_ context.Context, req api.LoginRequest) (api.Account, error) {
	f.record("Login %s %s %s %s", req.Server, req.Username, req.Password, req.Status)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loginReq = req
	if f.loginErr != nil {
		return api.Account{}, f.loginErr
	}
	acc := f.account
	acc.Username = req.Username
	acc.Status = req.Status
	return acc, nil
}

func (f *fakeAPI) Logout(context.Context) error { f.record("Logout"); return nil }

func (f *fakeAPI) Account(context.Context) (api.Account, error) {
	f.record("Account")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.account, nil
}

func (f *fakeAPI) AddContact(_ context.Context, username, message string) error {
	f.record("AddContact %s %s", username, message)
	return nil
}

func (f *fakeAPI) AcceptContact(_ context.Context, username string) error {
	f.record("AcceptContact %s", username)
	return nil
}

func (f *fakeAPI) DeclineContact(_ context.Context, username string) error {
	f.record("DeclineContact %s", username)
	return nil
}

func (f *fakeAPI) BlockContact(_ context.Context, username string) error {
	f.record("BlockContact %s", username)
	return nil
}

func (f *fakeAPI) UnblockContact(_ context.Context, username string) error {
	f.record("UnblockContact %s", username)
	return nil
}

func (f *fakeAPI) RemoveContact(_ context.Context, username string) error {
	f.record("RemoveContact %s", username)
	return nil
}

func (f *fakeAPI) Contacts(context.Context) ([]api.Contact, error) {
	f.record("Contacts")
	return nil, nil
}

func (f *fakeAPI) SetPresence(_ context.Context, u api.PresenceUpdate) error {
	var parts []string
	if u.Status != nil {
		parts = append(parts, "status="+string(*u.Status))
	}
	if u.Nick != nil {
		parts = append(parts, "nick="+*u.Nick)
	}
	if u.Subnick != nil {
		parts = append(parts, "subnick="+*u.Subnick)
	}
	if u.Media != nil {
		parts = append(parts, "media="+*u.Media)
	}
	f.record("SetPresence %s", strings.Join(parts, " "))
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.presenceErr
}

func (f *fakeAPI) Devices(_ context.Context) ([]api.Device, error) {
	f.record("Devices")
	now := time.Now()
	return []api.Device{
		{PeerID: "12D3KooWself", Name: "laptop", FirstLogin: now, LastSeen: now, Current: true},
		{PeerID: "12D3KooWphone", Name: "phone", FirstLogin: now, LastSeen: now},
	}, nil
}

func (f *fakeAPI) RevokeDevice(_ context.Context, peerID string) error {
	f.record("RevokeDevice %s", peerID)
	return nil
}

func (f *fakeAPI) ChangePassword(_ context.Context, old, new string) error {
	f.record("ChangePassword %s %s", old, new)
	if old != "secret" {
		return api.ErrLoginFailed
	}
	return nil
}

func (f *fakeAPI) SendFile(_ context.Context, to, path string) (string, error) {
	f.record("SendFile %s %s", to, path)
	return "t1", nil
}

func (f *fakeAPI) AcceptFile(_ context.Context, id, dir string) error {
	f.record("AcceptFile %s %s", id, dir)
	return nil
}

func (f *fakeAPI) DeclineFile(_ context.Context, id string) error {
	f.record("DeclineFile %s", id)
	return nil
}

func (f *fakeAPI) PauseTransfer(_ context.Context, id string) error {
	f.record("PauseTransfer %s", id)
	return nil
}

func (f *fakeAPI) ResumeTransfer(_ context.Context, id string) error {
	f.record("ResumeTransfer %s", id)
	return nil
}

func (f *fakeAPI) CancelTransfer(_ context.Context, id string) error {
	f.record("CancelTransfer %s", id)
	return nil
}

func (f *fakeAPI) Transfers(_ context.Context) ([]api.Transfer, error) {
	f.record("Transfers")
	return nil, nil
}

// fakeStream is the writing end of a stream the fake opened.
type fakeStream struct {
	f *fakeAPI
}

func (s fakeStream) Write(p []byte) (int, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.streamed = append(s.f.streamed, p...)
	return len(p), nil
}

func (s fakeStream) Close() error {
	s.f.record("CloseStream")
	return nil
}

// streamedBytes is what was written to opened streams so far.
func (f *fakeAPI) streamedBytes() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.streamed)
}

func (f *fakeAPI) OpenStream(_ context.Context, to, label string) (string, io.WriteCloser, error) {
	f.record("OpenStream %s %s", to, label)
	return "s1", fakeStream{f}, nil
}

func (f *fakeAPI) AcceptStream(_ context.Context, id string) (io.ReadCloser, error) {
	f.record("AcceptStream %s", id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.incoming == "" {
		return nil, api.ErrBadRequest
	}
	return io.NopCloser(strings.NewReader(f.incoming)), nil
}

func (f *fakeAPI) SafetyNumber(_ context.Context, username string) (api.Safety, error) {
	f.record("SafetyNumber %s", username)
	f.mu.Lock()
	defer f.mu.Unlock()
	return api.Safety{Username: username, Number: "11111 22222 33333 44444 55555 66666 77777 88888 99999 00000 12345 67890",
		Code: "AQID", Verified: f.verified[username]}, nil
}

func (f *fakeAPI) VerifyContact(_ context.Context, v api.Verification) error {
	f.record("VerifyContact %s %v %q", v.Username, v.Verified, v.Code)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.verified == nil {
		f.verified = map[string]bool{}
	}
	f.verified[v.Username] = v.Verified
	return nil
}

func (f *fakeAPI) SetSupernode(_ context.Context, s api.SupernodeSettings) error {
	if s.Allowed != nil {
		f.record("SetSupernode allowed=%v", *s.Allowed)
	}
	if s.UploadCap != nil {
		f.record("SetSupernode uploadCap=%d", *s.UploadCap)
	}
	return nil
}

func (f *fakeAPI) Send(_ context.Context, to, text string) (string, error) {
	f.record("Send %s %s", to, text)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return "", f.sendErr
	}
	f.nextID++
	return fmt.Sprintf("m%d", f.nextID), nil
}

func (f *fakeAPI) History(_ context.Context, with string, limit int, before string) ([]api.Message, error) {
	f.record("History %s %d %q", with, limit, before)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.Message(nil), f.history[with]...), nil
}

func (f *fakeAPI) Watch(ctx context.Context) <-chan api.Event {
	f.record("Watch")
	return f.events
}

func (f *fakeAPI) SetContactGroup(_ context.Context, username, group string) error {
	f.record("SetContactGroup %s %s", username, group)
	return nil
}

func (f *fakeAPI) RenameContact(_ context.Context, username, alias string) error {
	f.record("RenameContact %s %s", username, alias)
	return nil
}

func (f *fakeAPI) SetAvatar(_ context.Context, path string, crop api.Crop) error {
	f.record("SetAvatar %s %d %d %d", path, crop.X, crop.Y, crop.Size)
	return nil
}

func (f *fakeAPI) Typing(_ context.Context, to string) error {
	f.record("Typing %s", to)
	return nil
}

func (f *fakeAPI) Nudge(_ context.Context, to string) error {
	f.record("Nudge %s", to)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nudgeErr
}

// SearchHistory returns the hits set in f.hits (newest first, as the node
// gives them) whose text contains every word of the query
// (case-insensitively), limited to q.With when set, older than q.Before
// when set, at most q.Limit when set. With no words it fails as the node
// does.
func (f *fakeAPI) SearchHistory(_ context.Context, q api.HistoryQuery) ([]api.HistoryHit, error) {
	f.record("SearchHistory %s %s", q.Text, q.With)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.HistoryHit
	var words []string // the node ignores what has no letter or digit
	for _, w := range strings.Fields(strings.ToLower(q.Text)) {
		if strings.IndexFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: no words", api.ErrBadRequest)
	}
	for _, h := range f.hits {
		if q.With != "" && h.From != q.With && h.To != q.With {
			continue
		}
		if q.Before > 0 && h.Seq >= q.Before {
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		all := len(words) > 0
		for _, w := range words {
			all = all && strings.Contains(strings.ToLower(h.Text), w)
		}
		if all {
			out = append(out, h)
		}
	}
	return out, nil
}

func (f *fakeAPI) Invite(_ context.Context, with, username string) (string, error) {
	f.record("Invite %s %s", with, username)
	if api.IsConversation(with) {
		return with, nil
	}
	return "#00000000000000000000000000000001", nil
}

func (f *fakeAPI) LeaveConversation(_ context.Context, id string) error {
	f.record("LeaveConversation %s", id)
	return nil
}

func (f *fakeAPI) Conversations(context.Context) ([]api.Conversation, error) {
	f.record("Conversations")
	return nil, nil
}
