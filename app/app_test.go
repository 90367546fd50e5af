package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

const testServer = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWtest"

// newTestApp is an App over a fake node whose commands run inline, so a tap
// has had its whole effect when test.Tap returns.
func newTestApp(t *testing.T) (*App, *fakeAPI) {
	t.Helper()
	fake := newFakeAPI()
	a := New(test.NewTempApp(t), fake, Options{DefaultServer: testServer, Profile: "test", Prefs: NewMemoryPrefs()})
	a.run = func(f func()) { f() }
	a.apply(api.Event{Snapshot: &api.Snapshot{}})
	return a, fake
}

// signedIn is a test app signed in as alice.
func signedIn(t *testing.T) (*App, *fakeAPI) {
	t.Helper()
	a, fake := newTestApp(t)
	a.signIn.username.SetText("alice")
	a.signIn.password.SetText("secret")
	test.Tap(a.signIn.button)
	if a.account == nil {
		t.Fatalf("not signed in; calls %v, error %q", fake.Calls(), a.signIn.errText.Text)
	}
	return a, fake
}

func contact(username string, status api.Status) api.Contact {
	return api.Contact{
		Username: username,
		Relation: api.RelationAccepted,
		Presence: api.Presence{Status: status, Nick: strings.ToUpper(username[:1]) + username[1:], Subnick: username + "'s mood"},
	}
}

// rowTexts is the contact list as text: headers, then "nick" rows.
func rowTexts(a *App) []string {
	var out []string
	for _, r := range a.main.rows {
		if r.header != "" {
			out = append(out, r.header)
		} else {
			out = append(out, r.contact.Username)
		}
	}
	return out
}

func TestSignIn(t *testing.T) {
	a, fake := newTestApp(t)
	if got := a.signIn.server.Text; got != testServer {
		t.Errorf("server prefilled %q, want %q", got, testServer)
	}
	test.Type(a.signIn.username, "alice")
	test.Type(a.signIn.password, "secret")
	a.signIn.status.SetSelected("Busy")
	a.signIn.remember.SetChecked(true)
	// Enter in the password field signs in.
	a.signIn.password.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})

	want := api.LoginRequest{Server: testServer, Username: "alice", Password: "secret", Status: api.StatusBusy}
	if fake.LoginRequest() != want {
		t.Fatalf("Login(%+v), want %+v", fake.LoginRequest(), want)
	}
	if a.account == nil || a.account.Username != "alice" {
		t.Fatalf("account = %+v, want alice", a.account)
	}
	if got := a.main.nick.label.Text; got != "alice" {
		t.Errorf("nick shows %q, want alice", got)
	}
	if got := a.main.status.Text; got != "(Busy)" {
		t.Errorf("status shows %q, want Busy", got)
	}
	if a.signIn.password.Text != "" {
		t.Error("password kept in the sign-in window after signing in")
	}
	if got := rowTexts(a); !slices.Equal(got, []string{"Online (0)", "Offline (0)"}) {
		t.Errorf("rows = %v", got)
	}

	// Remember me keeps the username and server, never the password.
	prefs := a.prefs
	if got := prefs.String(prefUsername); got != "alice" {
		t.Errorf("remembered username %q, want alice", got)
	}
	if got := prefs.String(prefServer); got != testServer {
		t.Errorf("remembered server %q", got)
	}
	for _, k := range []string{prefUsername, prefServer, prefStatus, "signin.password", "password"} {
		if strings.Contains(prefs.String(k), "secret") {
			t.Errorf("preference %s holds the password", k)
		}
	}
	again := New(a.fyne, fake, Options{DefaultServer: testServer, Profile: "test", Prefs: a.prefs})
	if got := again.signIn.username.Text; got != "alice" {
		t.Errorf("remembered username not prefilled: %q", got)
	}
	if !again.signIn.remember.Checked {
		t.Error("remember me not restored")
	}
}

func TestSignInErrors(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		err      error
		wantText string
	}{
		{"wrong password", "alice", fmt.Errorf("login: %w", api.ErrLoginFailed), "The username or password is incorrect."},
		{"unreachable", "alice", fmt.Errorf("dial: %w", api.ErrUnreachable), "The server could not be reached"},
		{"rate limited", "alice", api.ErrRateLimited, "Too many attempts"},
		{"empty username", "", nil, "Please type your username and password."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, fake := newTestApp(t)
			fake.Fail("Login", tt.err)
			a.signIn.username.SetText(tt.user)
			a.signIn.password.SetText("wrong")
			test.Tap(a.signIn.button)
			if a.account != nil {
				t.Fatal("signed in despite the error")
			}
			if !a.signIn.errText.Visible() || !strings.Contains(a.signIn.errText.Text, tt.wantText) {
				t.Errorf("error text %q (visible %v), want %q", a.signIn.errText.Text, a.signIn.errText.Visible(), tt.wantText)
			}
			if a.signIn.button.Disabled() {
				t.Error("sign-in button left disabled")
			}
		})
	}
}

func TestSignUp(t *testing.T) {
	a, fake := newTestApp(t)
	test.Tap(a.signIn.signUp)
	d := a.signIn.signUpDialog
	d.username.SetText("newbie")
	d.password.SetText("long enough 1")
	d.confirm.SetText("long enough 2")
	test.Tap(d.create)
	if d.errText.Text != "The passwords do not match." || fake.Called("Register") {
		t.Fatalf("mismatch: error %q, calls %v", d.errText.Text, fake.Calls())
	}

	fake.Fail("Register", api.ErrUsernameTaken)
	d.confirm.SetText("long enough 1")
	test.Tap(d.create)
	if !strings.Contains(d.errText.Text, "already taken") || fake.Called("Login") {
		t.Fatalf("taken: error %q, calls %v", d.errText.Text, fake.Calls())
	}

	fake.Fail("Register", nil)
	test.Tap(d.create)
	want := []string{
		"Register " + testServer + " newbie long enough 1",
		"Register " + testServer + " newbie long enough 1",
		"Login " + testServer + " newbie long enough 1 online",
		"Conversations", // signed in: the multi-party conversations are loaded
		"ActiveCalls",   // and the calls the node has going
	}
	if got := fake.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
	if a.account == nil || a.account.Username != "newbie" {
		t.Errorf("not signed in after signing up: %+v", a.account)
	}
}

// TestSignUpRules: the sign-up dialog shows the username and password
// rules while the person types, says at once what is wrong, folds capitals
// to lower case, and refuses a short or common password before anything
// reaches the node (issue 14, item 4: "Bob" and "Bob Smith!" got "Please
// check what you typed" and "abc" was accepted as a password).
func TestSignUpRules(t *testing.T) {
	a, fake := newTestApp(t)
	a.signIn.win.Show()
	test.Tap(a.signIn.signUp)
	d := a.signIn.signUpDialog
	d.username.SetText("")
	if !strings.Contains(d.userHint.Text, "3 to 32 characters") || !strings.Contains(d.passHint.Text, "At least 8 characters") {
		t.Fatalf("rules not shown before typing: %q / %q", d.userHint.Text, d.passHint.Text)
	}
	hints := []struct {
		typed, want string
		bad         bool
	}{
		{"Bo", "Too short", true},
		{"Bob Smith!", "cannot have spaces or \u201c!\u201d", true},
		{"Bob", "You will sign in as \u201cbob\u201d: usernames are lower case.", false},
		{"bob", "You will sign in as \u201cbob\u201d.", false},
		{strings.Repeat("b", 33), "Too long", true},
	}
	for _, h := range hints {
		test.Type(d.username, "") // focus, as the person's typing would
		d.username.SetText("")
		test.Type(d.username, h.typed)
		if !strings.Contains(d.userHint.Text, h.want) || (d.userHint.Importance == widget.DangerImportance) != h.bad {
			t.Errorf("typing %q shows %q (importance %v), want %q", h.typed, d.userHint.Text, d.userHint.Importance, h.want)
		}
	}
	d.username.SetText("Bob")
	for _, p := range []struct{ typed, want string }{
		{"abc", "Too short: 3 of at least 8"},
		{"Password1", "most common passwords"},
		{"qwertyuiop", "most common passwords"},
		{"zzzzzzzzzz", "most common passwords"},
		{"BOB", "Too short"},
		{"bobbobbo", ""},
	} {
		d.password.SetText(p.typed)
		if p.want == "" {
			if d.passHint.Importance != widget.SuccessImportance {
				t.Errorf("password %q refused: %q", p.typed, d.passHint.Text)
			}
			continue
		}
		if !strings.Contains(d.passHint.Text, p.want) || d.passHint.Importance != widget.DangerImportance {
			t.Errorf("password %q shows %q, want %q", p.typed, d.passHint.Text, p.want)
		}
	}
	if d.password.SetText("bobbobbob"); d.passHint.Importance != widget.SuccessImportance {
		t.Errorf("a good password shows %q", d.passHint.Text)
	}
	d.confirm.SetText("bobbob")
	if !d.confirmHint.Visible() || !strings.Contains(d.confirmHint.Text, "do not match") {
		t.Errorf("confirmation shows %q", d.confirmHint.Text)
	}

	// Refused by the client, explained, with nothing sent.
	for _, pw := range []string{"abc", "password1"} {
		d.password.SetText(pw)
		d.confirm.SetText(pw)
		test.Tap(d.create)
		if fake.Called("Register") || !d.errText.Visible() || d.errText.Text == "" {
			t.Fatalf("password %q: error %q, calls %v", pw, d.errText.Text, fake.Calls())
		}
	}
	d.username.SetText("Bob Smith!")
	d.password.SetText("correct horse")
	d.confirm.SetText("correct horse")
	test.Tap(d.create)
	if fake.Called("Register") || !strings.Contains(d.errText.Text, "cannot have spaces") {
		t.Fatalf("bad username: error %q, calls %v", d.errText.Text, fake.Calls())
	}
	// The dialog's parts never overlap, whatever the hints say.
	d.username.SetText("Bob Smith!")
	d.password.SetText("abc")
	d.confirm.SetText("abd")
	assertStacked(t, a.signIn.win.Canvas(), []string{"username", "username hint", "password", "password hint", "confirmation", "its hint"},
		d.username, d.userHint, d.password, d.passHint, d.confirm, d.confirmHint)
	// Capitals are folded: "Bob" signs up and signs in as bob.
	d.username.SetText(" Bob ")
	d.password.SetText("correct horse")
	d.confirm.SetText("correct horse")
	test.Tap(d.create)
	if !fake.Called("Register "+testServer+" bob correct horse") || a.account == nil || a.account.Username != "bob" {
		t.Fatalf("sign-up as Bob: calls %v, account %+v", fake.Calls(), a.account)
	}
}

// TestSignInFoldsCapitals: "Bob" signs in as bob; a name no account can
// have is explained without asking the server.
func TestSignInFoldsCapitals(t *testing.T) {
	a, fake := newTestApp(t)
	a.signIn.username.SetText("Bob ")
	a.signIn.password.SetText("secret")
	test.Tap(a.signIn.button)
	if !fake.Called("Login " + testServer + " bob secret online") {
		t.Fatalf("calls %v", fake.Calls())
	}
	b, fake := newTestApp(t)
	b.signIn.username.SetText("Bob Smith")
	b.signIn.password.SetText("secret")
	test.Tap(b.signIn.button)
	if fake.Called("Login") || !strings.Contains(b.signIn.errText.Text, "cannot have spaces") {
		t.Fatalf("error %q, calls %v", b.signIn.errText.Text, fake.Calls())
	}
}

func TestContactGroups(t *testing.T) {
	a, _ := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	if got, want := rowTexts(a), []string{"Online (1)", "bob", "Offline (0)"}; !slices.Equal(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	// The list item shows glyph, nick and subnick.
	row := newContactRow(a)
	row.set(a.main.rows[1])
	if row.text.String() != "Bob - bob's mood" || row.glyph.Resource != glyphOnline {
		t.Errorf("row shows %q %v", row.text.String(), row.glyph.Resource.Name())
	}
	if a.main.list.Length() != 3 {
		t.Errorf("list length %d, want 3", a.main.list.Length())
	}

	bob.Status = api.StatusBusy
	a.apply(api.Event{Contact: &bob})
	row.set(a.main.rows[1])
	if row.glyph.Resource != glyphBusy {
		t.Errorf("busy glyph = %s", row.glyph.Resource.Name())
	}

	bob.Status = api.StatusOffline
	a.apply(api.Event{Contact: &bob})
	if got, want := rowTexts(a), []string{"Online (0)", "Offline (1)", "bob"}; !slices.Equal(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	row.set(a.main.rows[2])
	if row.glyph.Resource != glyphOffline {
		t.Errorf("offline glyph = %s", row.glyph.Resource.Name())
	}

	// A request we sent shows offline, marked pending.
	a.apply(api.Event{Contact: &api.Contact{Username: "zed", Relation: api.RelationPendingOut}})
	if got, want := rowTexts(a), []string{"Online (0)", "Offline (2)", "bob", "zed"}; !slices.Equal(got, want) {
		t.Fatalf("rows = %v, want %v", got, want)
	}
	row.set(a.main.rows[3])
	if row.text.String() != "zed (pending)" {
		t.Errorf("pending row shows %q", row.text.String())
	}

	a.apply(api.Event{ContactRemoved: "bob"})
	if got, want := rowTexts(a), []string{"Online (0)", "Offline (1)", "zed"}; !slices.Equal(got, want) {
		t.Fatalf("after removal rows = %v, want %v", got, want)
	}
}

func TestSearch(t *testing.T) {
	a, _ := signedIn(t)
	contacts := []api.Contact{contact("bob", api.StatusOnline), contact("carol", api.StatusAway), contact("dave", api.StatusOffline)}
	contacts[1].Nick = "Caroline"
	a.apply(api.Event{Snapshot: &api.Snapshot{Account: a.account, Contacts: contacts}})
	tests := []struct {
		search string
		want   []string
	}{
		{"", []string{"Online (2)", "bob", "carol", "Offline (1)", "dave"}},
		{"car", []string{"Online (1)", "carol", "Offline (0)"}},
		{"LINE", []string{"Online (1)", "carol", "Offline (0)"}}, // nick, any case
		{"dav", []string{"Online (0)", "Offline (1)", "dave"}},
		{"nobody", []string{"Online (0)", "Offline (0)"}},
	}
	for _, tt := range tests {
		a.main.search.SetText(tt.search)
		if got := rowTexts(a); !slices.Equal(got, tt.want) {
			t.Errorf("search %q: rows = %v, want %v", tt.search, got, tt.want)
		}
	}
}

func TestChatSendAndDelivered(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	earlier := time.Date(2025, 1, 2, 9, 41, 0, 0, time.Local)
	fake.Messages["bob"] = []api.Message{{ID: "h1", From: "bob", To: "alice", Text: "hi alice", Time: earlier, State: api.StateReceived}}
	a.apply(api.Event{Contact: &bob})

	// Tapping the contact in the list opens the conversation with its history.
	a.main.win.Resize(fyne.NewSize(340, 620))
	var bobRow *contactRow
	for _, o := range test.LaidOutObjects(a.main.list) {
		if r, ok := o.(*contactRow); ok && r.row.contact.Username == "bob" {
			bobRow = r
		}
	}
	if bobRow == nil {
		t.Fatal("bob's row not rendered in the list")
	}
	// Bob is the second row: below the "Online (1)" header and a separator.
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(a.main.list)
	pos = pos.Add(fyne.NewPos(40, bobRow.Size().Height*1.5+theme.Padding()))
	test.TapCanvas(a.main.win.Canvas(), pos)
	chat := a.chats["bob"]
	if chat == nil || !chat.shown {
		t.Fatal("tapping bob did not open the conversation")
	}
	if !fake.Called(`History bob 100 ""`) {
		t.Errorf("History not loaded: %v", fake.Calls())
	}
	if len(chat.rows) != 1 || chat.rows[0].from.Text != "09:41  Bob says:" || chat.rows[0].text.Text != "hi alice" {
		t.Fatalf("history shows %+v", chat.rows)
	}
	if chat.nick.Text != "Bob" || chat.status.Text != "(Available)" || chat.subnick.Text != "bob's mood" {
		t.Errorf("header %q %q %q", chat.nick.Text, chat.status.Text, chat.subnick.Text)
	}

	// Shift+Enter starts a new line; Enter sends.
	test.Type(chat.entry, "hello")
	chat.entry.KeyDown(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
	chat.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	chat.entry.KeyUp(&fyne.KeyEvent{Name: desktop.KeyShiftLeft})
	test.Type(chat.entry, "bob")
	if fake.Called("Send") || chat.entry.Text != "hello\nbob" {
		t.Fatalf("Shift+Enter: text %q, calls %v", chat.entry.Text, fake.Calls())
	}
	chat.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("Send bob hello\nbob") {
		t.Fatalf("Send not called: %v", fake.Calls())
	}
	if chat.entry.Text != "" {
		t.Errorf("entry not cleared: %q", chat.entry.Text)
	}
	if len(chat.rows) != 2 {
		t.Fatalf("%d rows, want 2", len(chat.rows))
	}
	mine := chat.rows[1]
	if mine.msg.ID != "m1" || mine.text.Text != "hello\nbob" || !strings.HasSuffix(mine.from.Text, "alice says:") {
		t.Errorf("own message row %+v", mine.msg)
	}
	if mine.mark.Resource != theme.HistoryIcon() {
		t.Errorf("queued mark = %v, want the clock", mine.mark.Resource)
	}

	// The node's event for our own message does not show it twice.
	a.apply(api.Event{Message: &api.Message{ID: "m1", From: "alice", To: "bob", Text: "hello\nbob", State: api.StateQueued}})
	if len(chat.rows) != 2 {
		t.Fatalf("own message shown twice: %d rows", len(chat.rows))
	}
	a.apply(api.Event{Delivered: &api.Delivery{ID: "m1", To: "bob"}})
	if mine.mark.Resource != theme.ConfirmIcon() {
		t.Errorf("delivered mark = %v, want the check", mine.mark.Resource)
	}

	// A message the peer answers arrives in the open window.
	a.apply(api.Event{Message: &api.Message{ID: "r2", From: "bob", To: "alice", Text: "got it", Time: time.Now(), State: api.StateReceived}})
	if len(chat.rows) != 3 || chat.rows[2].text.Text != "got it" || chat.rows[2].mark.Visible() {
		t.Errorf("incoming row wrong: %d rows", len(chat.rows))
	}

	// Closing hides the window and keeps it for next time.
	chat.hide()
	if chat.shown || a.chats["bob"] != chat {
		t.Error("closing the conversation did not keep it hidden")
	}
	a.openChat("bob")
	if !chat.shown || len(chat.rows) != 3 {
		t.Error("reopening lost the conversation")
	}
}

func TestSendFails(t *testing.T) {
	a, fake := signedIn(t)
	fake.Fail("Send", fmt.Errorf("send: %w", api.ErrNotContact))
	a.openChat("bob")
	chat := a.chats["bob"]
	chat.entry.SetText("anyone?")
	test.Tap(chat.send)
	if len(chat.rows) != 1 || chat.rows[0].msg.State != api.StateFailed {
		t.Fatalf("failed send not marked: %+v", chat.rows)
	}
	if n := len(chat.items); n != 2 || chat.items[1].row != nil {
		t.Errorf("want the message and a notice, got %d items", n)
	}
}

func TestDeliveredBeforeSendReturns(t *testing.T) {
	a, _ := signedIn(t)
	a.openChat("bob")
	chat := a.chats["bob"]
	// Events for m1 arrive while Send is still in flight.
	row := chat.append(api.Message{From: "alice", To: "bob", Text: "quick", State: api.StateQueued})
	a.apply(api.Event{Delivered: &api.Delivery{ID: "m1", To: "bob"}})
	chat.assignID(row, "m1")
	if row.mark.Resource != theme.ConfirmIcon() {
		t.Errorf("early delivery lost: mark %v", row.mark.Resource)
	}
	row2 := chat.append(api.Message{From: "alice", To: "bob", Text: "again", State: api.StateQueued})
	a.apply(api.Event{Message: &api.Message{ID: "m2", From: "alice", To: "bob", Text: "again", State: api.StateQueued}})
	chat.assignID(row2, "m2")
	if len(chat.rows) != 2 || chat.byID["m2"] != row2 {
		t.Errorf("message event before Send returned duplicated the row: %d rows", len(chat.rows))
	}
}

func TestIncomingMessageOpensChat(t *testing.T) {
	a, fake := signedIn(t)
	carol := contact("carol", api.StatusOnline)
	a.apply(api.Event{Contact: &carol})
	if a.chats["carol"] != nil {
		t.Fatal("conversation open before any message")
	}
	m := api.Message{ID: "c1", From: "carol", To: "alice", Text: "are you there?", Time: time.Now(), State: api.StateReceived}
	fake.Messages["carol"] = []api.Message{m} // the node stored it before telling us
	a.apply(api.Event{Message: &m})
	chat := a.chats["carol"]
	if chat == nil || !chat.shown {
		t.Fatal("incoming message did not open the conversation")
	}
	if len(chat.rows) != 1 || chat.rows[0].text.Text != "are you there?" {
		t.Errorf("conversation shows %d rows", len(chat.rows))
	}
	if !slices.Contains(a.fyne.Driver().AllWindows(), chat.win) {
		t.Error("chat window not among the app's windows")
	}
	// Our own message from another front end does not open a window.
	a.apply(api.Event{Message: &api.Message{ID: "d1", From: "alice", To: "dave", Text: "x", State: api.StateQueued}})
	if a.chats["dave"] != nil {
		t.Error("own message opened a conversation")
	}
}

func TestContactRequests(t *testing.T) {
	tests := []struct {
		button string
		want   string
	}{
		{"accept", "AcceptContact carol"},
		{"decline", "DeclineContact carol"},
		{"block", "BlockContact carol"},
	}
	for _, tt := range tests {
		t.Run(tt.button, func(t *testing.T) {
			a, fake := signedIn(t)
			a.apply(api.Event{ContactRequest: &api.ContactRequestEvent{From: "carol", Message: "it's me from school"}})
			r := a.main.requestRows["carol"]
			if r == nil || !a.main.requests.Visible() {
				t.Fatal("request not shown")
			}
			if !strings.Contains(r.text.Text, "it's me from school") {
				t.Errorf("request text %q", r.text.Text)
			}
			if got := rowTexts(a); !slices.Equal(got, []string{"Online (0)", "Offline (0)"}) {
				t.Errorf("request listed as a contact: %v", got)
			}
			test.Tap(map[string]fyne.Tappable{"accept": r.accept, "decline": r.decline, "block": r.block}[tt.button])
			if !fake.Called(tt.want) {
				t.Errorf("calls %v, want %q", fake.Calls(), tt.want)
			}
			// The node then reports the new relation.
			c := contact("carol", api.StatusOnline)
			a.apply(api.Event{Contact: &c})
			if a.main.requests.Visible() || a.main.requestRows["carol"] != nil {
				t.Error("request still shown once answered")
			}
		})
	}
}

func TestAddContact(t *testing.T) {
	a, fake := signedIn(t)
	a.main.addItem.Action()
	d := a.main.addDialog
	test.Tap(d.add)
	if fake.Called("AddContact") || !strings.Contains(d.errText.Text, "username") {
		t.Fatalf("empty username: %q %v", d.errText.Text, fake.Calls())
	}
	d.username.SetText("dave")
	d.message.SetText("hi dave")
	test.Tap(d.add)
	if !fake.Called("AddContact dave hi dave") {
		t.Errorf("calls %v", fake.Calls())
	}
}

// TestAddContactMistyped: a name no account has is said at once, in the
// dialog, which keeps what was typed to correct it; a name no account can
// have is explained without asking; capitals are folded (issue 14, item 3).
func TestAddContactMistyped(t *testing.T) {
	a, fake := signedIn(t)
	a.main.addItem.Action()
	d := a.main.addDialog
	d.username.SetText("Bob Smith")
	test.Tap(d.add)
	if fake.Called("AddContact") || !strings.Contains(d.errText.Text, "cannot have spaces") {
		t.Fatalf("Bob Smith: %q %v", d.errText.Text, fake.Calls())
	}
	fake.Fail("AddContact", fmt.Errorf("adding: %w", api.ErrNoSuchUser))
	d.username.SetText("NoSuchUser")
	test.Tap(d.add)
	if !fake.Called("AddContact nosuchuser ") {
		t.Fatalf("calls %v", fake.Calls())
	}
	if !d.errText.Visible() || !strings.Contains(d.errText.Text, "No one is called \u201cnosuchuser\u201d") {
		t.Fatalf("no such user shows %q (visible %v)", d.errText.Text, d.errText.Visible())
	}
	if d.username.Text != "NoSuchUser" || d.add.Disabled() {
		t.Errorf("the dialog lost the name (%q) or its button (disabled %v)", d.username.Text, d.add.Disabled())
	}
	if len(a.contacts) != 0 {
		t.Errorf("contacts after a failed add: %v", a.contacts)
	}
}

func TestContactMenu(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	items := map[string]*fyne.MenuItem{}
	for _, it := range a.contactMenu(bob).Items {
		items[it.Label] = it
	}
	items["Delete contact"].Action()
	test.Tap(a.main.confirm.yes)
	items["Block contact"].Action()
	items["Send an instant message"].Action()
	if !fake.Called("RemoveContact bob") || !fake.Called("BlockContact bob") || a.chats["bob"] == nil {
		t.Errorf("calls %v", fake.Calls())
	}
	bob.Relation = api.RelationBlocked
	found := false
	for _, it := range a.contactMenu(bob).Items {
		if it.Label == "Unblock contact" {
			it.Action()
			found = true
		}
	}
	if !found || !fake.Called("UnblockContact bob") {
		t.Error("no Unblock for a blocked contact")
	}
}

func TestPresence(t *testing.T) {
	a, fake := signedIn(t)
	selectStatus(t, a, "Away")
	if !fake.Called("SetPresence status=away") {
		t.Fatalf("calls %v", fake.Calls())
	}
	if a.main.ownGlyph.Resource != glyphAway {
		t.Errorf("own glyph %s", a.main.ownGlyph.Resource.Name())
	}

	// Our presence changing elsewhere updates the window without echoing it back.
	n := len(fake.Calls())
	acc := *a.account
	acc.Status, acc.Nick, acc.Subnick = api.StatusBRB, "Ally", "at the beach"
	a.apply(api.Event{Account: &acc})
	if len(fake.Calls()) != n {
		t.Errorf("applying our presence called the node: %v", fake.Calls()[n:])
	}
	if a.main.status.Text != "(Be right back)" || a.main.nick.label.Text != "Ally" || a.main.subnick.label.Text != "at the beach" {
		t.Errorf("header shows %q %q %q", a.main.status.Text, a.main.nick.label.Text, a.main.subnick.label.Text)
	}

	// Click the nick to edit it.
	test.Tap(a.main.nick.label)
	if !a.main.nick.entry.Visible() || a.main.nick.label.Visible() {
		t.Fatal("nick not editable after a tap")
	}
	a.main.nick.entry.SetText("Alice W")
	a.main.nick.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("SetPresence nick=Alice W") || a.main.nick.entry.Visible() {
		t.Errorf("nick edit: calls %v", fake.Calls())
	}

	test.Tap(a.main.subnick.label)
	a.main.subnick.entry.SetText("working")
	a.main.subnick.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("SetPresence subnick=working") {
		t.Errorf("subnick: calls %v", fake.Calls())
	}
}

func TestSignOut(t *testing.T) {
	a, fake := signedIn(t)
	a.openChat("bob")
	chat := a.chats["bob"]
	a.main.signOutItem.Action()
	if !fake.Called("Logout") || a.account != nil || len(a.chats) != 0 {
		t.Fatalf("after sign out: account %v, chats %d, calls %v", a.account, len(a.chats), fake.Calls())
	}
	if slices.Contains(a.fyne.Driver().AllWindows(), chat.win) {
		t.Error("conversation window left open")
	}
	// The node signing us out (another front end) does the same.
	a2, _ := signedIn(t)
	a2.apply(api.Event{SignedOut: true})
	if a2.account != nil {
		t.Error("SignedOut event ignored")
	}
}

func TestStartDrainsEvents(t *testing.T) {
	a, fake := newTestApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.Start(ctx)
	acc := api.Account{Username: "alice", Presence: api.Presence{Status: api.StatusOnline}}
	bob := contact("bob", api.StatusOnline)
	fake.Events <- api.Event{Snapshot: &api.Snapshot{Account: &acc, Contacts: []api.Contact{bob}}}
	close(fake.Events)
	a.Wait() // the goroutine returns when the stream ends
	if a.account == nil || a.account.Username != "alice" {
		t.Fatalf("snapshot's account not applied: %v", a.account)
	}
	if got, want := rowTexts(a), []string{"Online (1)", "bob", "Offline (0)"}; !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}

	// And when its context ends.
	b, _ := newTestApp(t)
	ctx2, cancel2 := context.WithCancel(context.Background())
	b.Start(ctx2)
	cancel2()
	b.Wait()
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("x: %w", api.ErrLoginFailed), "The username or password is incorrect."},
		{api.ErrUsernameTaken, "That username is already taken. Please choose another one."},
		{api.ErrNotContact, "That person has not accepted you as a contact yet."},
		{api.ErrBlocked, "That contact is blocked."},
		{api.ErrNotLoggedIn, "You are not signed in."},
		{api.ErrBadRequest, "Please check what you typed and try again."},
		{fmt.Errorf("boom"), "Something went wrong. Please try again."}, // the detail is logged, not shown
	}
	for _, tt := range tests {
		if got := errorText(tt.err); got != tt.want {
			t.Errorf("errorText(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestChatHeaderSaysHowContactIsReached(t *testing.T) {
	a, _ := signedIn(t)
	for _, tt := range []struct {
		via  api.Via
		want string
	}{
		{api.ViaDirect, "connected directly"},
		{api.ViaRelayed, "connected through a relay"},
		{api.ViaMailbox, "messages will wait in their mailbox"},
	} {
		ct := api.Contact{Username: "bob", Relation: api.RelationAccepted, Via: tt.via, Presence: api.Presence{Status: api.StatusOnline}}
		a.apply(api.Event{Contact: &ct})
		a.openChat("bob")
		if got := a.chats["bob"].status.Text; !strings.Contains(got, tt.want) {
			t.Errorf("via %s: header %q, want it to say %q", tt.via, got, tt.want)
		}
	}
}

func TestOptionsSupernode(t *testing.T) {
	a, fake := signedIn(t)
	a.main.optionsItem.Action()
	s := a.settings
	if s.supernode.Checked || !strings.Contains(s.role.Text, "is a node") {
		t.Fatalf("initial options: checked %v, role %q", s.supernode.Checked, s.role.Text)
	}
	test.Tap(s.supernode)
	if !fake.Called("SetSupernode allowed=true") {
		t.Fatalf("opt-in not sent: %v", fake.Calls())
	}
	if s.upload.Selected != "No limit" {
		t.Fatalf("upload cap shows %q, want No limit", s.upload.Selected)
	}
	s.upload.SetSelected("512 KB/s")
	if !fake.Called("SetSupernode uploadCap=524288") {
		t.Fatalf("upload cap not sent: %v", fake.Calls())
	}
	// The node reports the promotion; the window says so, with the reason.
	acc := *a.account
	acc.Role, acc.SupernodeAllowed = api.RoleSupernode, true
	a.apply(api.Event{Role: &api.RoleEvent{Role: api.RoleSupernode, Reason: "conditions hold", Time: time.Now()}, Account: &acc})
	if !strings.Contains(s.role.Text, "is a supernode") || !strings.Contains(s.role.Text, "conditions hold") {
		t.Fatalf("role after promotion: %q", s.role.Text)
	}
	// Showing the node's state does not echo it back as a user change.
	n := len(fake.Calls())
	acc.SupernodeAllowed, acc.SupernodeUploadCap = false, 3<<20
	a.apply(api.Event{Account: &acc})
	if s.upload.Selected != "3072 KB/s" {
		t.Fatalf("upload cap set by the daemon shows %q", s.upload.Selected)
	}
	if s.supernode.Checked || len(fake.Calls()) != n {
		t.Fatalf("applying the account echoed: checked %v, calls %v", s.supernode.Checked, fake.Calls()[n:])
	}
}

// TestSafetyNumber: a contact whose device identity changed gets a warning
// above the chat; the lock shows the safety number; marking the contact
// verified (with the contact's pasted code) reaches the node, and once the
// node reports it verified the warning goes.
func TestSafetyNumber(t *testing.T) {
	a, fake := signedIn(t)
	changed := time.Date(2026, 11, 24, 15, 4, 0, 0, time.Local)
	bob := contact("bob", api.StatusOnline)
	bob.KeyChanged = &changed
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	if !c.banner.Visible() || !strings.Contains(c.warning.Text, "security code changed") || c.lock.Text != "Verify" {
		t.Fatalf("banner visible %v, warning %q, lock %q", c.banner.Visible(), c.warning.Text, c.lock.Text)
	}
	test.Tap(c.verifyBtn)
	v := c.safety
	if v == nil || !fake.Called("SafetyNumber bob") {
		t.Fatalf("safety dialog not opened: %v", fake.Calls())
	}
	if !strings.Contains(v.number.Text, "11111  22222  33333  44444\n55555") || v.code.Text != "AQID" || v.unset.Visible() {
		t.Fatalf("number %q, code %q, unset visible %v", v.number.Text, v.code.Text, v.unset.Visible())
	}
	v.theirs.SetText("  BAUG  ")
	test.Tap(v.verify)
	if !fake.Called(`VerifyContact bob true "BAUG"`) {
		t.Fatalf("verification not sent: %v", fake.Calls())
	}
	bob.Verified, bob.KeyChanged = true, nil
	a.apply(api.Event{Contact: &bob})
	if c.banner.Visible() || c.lock.Text != "Verified" {
		t.Fatalf("after verification: banner visible %v, lock %q", c.banner.Visible(), c.lock.Text)
	}
	// A verified contact still shows its number, and can be unverified.
	test.Tap(c.lock)
	if !v.unset.Visible() {
		t.Fatal("no way to clear the verification")
	}
}

// TestDevicesAndPassword: Options lists the account's devices and removes
// one; File → Change password checks the two new entries match and passes
// the change to the node, showing a wrong current password in words; a
// session ended elsewhere says why on the sign-in window.
func TestDevicesAndPassword(t *testing.T) {
	a, fake := signedIn(t)
	a.main.optionsItem.Action()
	v := a.settings.devices
	if !fake.Called("Devices") || len(v.box.Objects) != 2 {
		t.Fatalf("devices not listed: %v, %d rows", fake.Calls(), len(v.box.Objects))
	}
	remove, ok := v.rows["12D3KooWphone"]
	if !ok {
		t.Fatal("no Remove button for the phone")
	}
	// Removing another device asks for the password, and says when it is
	// wrong.
	test.Tap(remove)
	r := v.remove
	if r == nil {
		t.Fatal("no password asked to remove the phone")
	}
	test.Tap(r.ok)
	if fake.Called("RevokeDevice") || !strings.Contains(r.errText.Text, "password") {
		t.Fatalf("removed without a password: %q, %v", r.errText.Text, fake.Calls())
	}
	fake.Fail("RevokeDevice", api.ErrLoginFailed)
	r.password.SetText("wrong")
	test.Tap(r.ok)
	if !strings.Contains(r.errText.Text, "password is not right") {
		t.Fatalf("wrong password: %q", r.errText.Text)
	}
	fake.Fail("RevokeDevice", nil)
	r.password.SetText("secret")
	test.Tap(r.ok)
	if !fake.Called("RevokeDevice 12D3KooWphone secret") {
		t.Fatalf("removal not sent: %v", fake.Calls())
	}

	a.main.passwordItem.Action()
	d := a.passwordDlg
	d.old.SetText("secret")
	d.new1.SetText("new one")
	d.new2.SetText("typo")
	test.Tap(d.ok)
	if fake.Called("ChangePassword") || !strings.Contains(d.errText.Text, "do not match") {
		t.Fatalf("mismatched passwords: %q, %v", d.errText.Text, fake.Calls())
	}
	// The sign-up rules hold for a new password: the server never sees it.
	d.new2.SetText("new one")
	test.Tap(d.ok)
	if fake.Called("ChangePassword") || !strings.Contains(d.errText.Text, "Too short") {
		t.Fatalf("short new password: %q, %v", d.errText.Text, fake.Calls())
	}
	d.new1.SetText("new one, longer")
	fake.Fail("ChangePassword", api.ErrLoginFailed) // as the node answers a wrong current password
	d.old.SetText("wrong")
	d.new2.SetText("new one, longer")
	test.Tap(d.ok)
	if !strings.Contains(d.errText.Text, "current password is not right") {
		t.Fatalf("wrong current password: %q", d.errText.Text)
	}
	fake.Fail("ChangePassword", nil)
	d.old.SetText("secret")
	test.Tap(d.ok)
	if !fake.Called("ChangePassword secret new one, longer") {
		t.Fatalf("change not sent: %v", fake.Calls())
	}

	a.apply(api.Event{SignedOut: true, SignedOutCode: api.SignedOutRevoked, SignedOutReason: "This computer was removed from your account."})
	if a.account != nil || !strings.Contains(a.signIn.errText.Text, "removed from your account") {
		t.Fatalf("signed out: account %v, sign-in says %q", a.account, a.signIn.errText.Text)
	}
}

// TestDeviceStates: Options says of each device whether it is online now or
// when it was last seen, and marks one the account's signed list does not
// name; a removed device says when it was removed, and nothing more.
func TestDeviceStates(t *testing.T) {
	a, fake := signedIn(t)
	seen := time.Date(2025, 9, 14, 16, 20, 0, 0, time.Local)
	removed := seen.Add(time.Hour)
	fake.DeviceList = []api.Device{
		{PeerID: "12D3KooWself", Name: "laptop", FirstLogin: seen, LastSeen: seen, Current: true, Online: true, Listed: true},
		{PeerID: "12D3KooWdesk", Name: "desktop", FirstLogin: seen, LastSeen: seen, Online: true, Listed: true},
		{PeerID: "12D3KooWphone", Name: "phone", FirstLogin: seen, LastSeen: seen, Listed: true},
		{PeerID: "12D3KooWold", Name: "old pc", FirstLogin: seen, LastSeen: seen, Online: true},
		{PeerID: "12D3KooWgone", Name: "tablet", FirstLogin: seen, LastSeen: seen, Revoked: &removed},
	}
	a.main.optionsItem.Action()
	v := a.settings.devices
	unconfirmed := "not confirmed by your account"
	for i, tc := range []struct {
		name string
		want []string
	}{
		{"this device", []string{"laptop — this computer\nOnline now"}},
		{"online", []string{"desktop\nOnline now"}},
		{"offline", []string{"phone\nOffline, last seen " + dateTimeText(seen)}},
		{"unlisted", []string{"old pc\nOnline now", unconfirmed}},
		{"removed", []string{"tablet\nremoved " + dateTimeText(removed)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(v.box.Objects) != 5 {
				t.Fatalf("%d rows, want 5", len(v.box.Objects))
			}
			if got := texts(v.box.Objects[i]); !slices.Equal(got, tc.want) {
				t.Fatalf("row %d shows %q, want %q", i, got, tc.want)
			}
		})
	}
}

// TestDevicesSameName: this computer comes first, and computers that share
// a name (host names often do) say when each was added, so the person can
// tell which one to remove.
func TestDevicesSameName(t *testing.T) {
	a, fake := signedIn(t)
	first := time.Date(2026, 12, 7, 10, 37, 0, 0, time.Local)
	second := first.Add(2 * time.Minute)
	fake.DeviceList = []api.Device{
		{PeerID: "12D3KooWother", Name: "vm", FirstLogin: first, LastSeen: second, Online: true, Listed: true},
		{PeerID: "12D3KooWself", Name: "vm", FirstLogin: second, LastSeen: second, Current: true, Online: true, Listed: true},
		{PeerID: "12D3KooWdesk", Name: "desktop", FirstLogin: first, LastSeen: first, Online: true, Listed: true},
	}
	a.main.optionsItem.Action()
	v := a.settings.devices
	want := [][]string{
		{"vm — this computer\nOnline now · added " + dateTimeText(second)},
		{"vm\nOnline now · added " + dateTimeText(first)},
		{"desktop\nOnline now"},
	}
	if len(v.box.Objects) != len(want) {
		t.Fatalf("%d rows, want %d", len(v.box.Objects), len(want))
	}
	for i, w := range want {
		if got := texts(v.box.Objects[i]); !slices.Equal(got, w) {
			t.Errorf("row %d shows %q, want %q", i, got, w)
		}
	}
}

// TestFileTransferBars: an offer opens the conversation with a row in the
// tray to accept or decline; accepting reaches the node; progress fills the
// bar; done moves it into the conversation as a line that offers the file
// and its folder; files dropped on the window are sent.
func TestFileTransferBars(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	offer := api.Transfer{ID: "t1", Peer: "bob", Name: "cat.jpg", Size: 4 << 20, State: api.TransferIncoming}
	a.apply(api.Event{Transfer: &offer})
	c := a.chats["bob"]
	if c == nil || !c.shown {
		t.Fatal("an offer did not open the conversation")
	}
	r := c.tray.rows["t1"]
	if r == nil || !r.accept.Visible() || !r.decline.Visible() || r.cancel.Visible() || !strings.Contains(r.label.Text, "cat.jpg (4.0 MB) from Bob") {
		t.Fatalf("offer bar: %+v", r)
	}
	test.Tap(r.accept)
	if !fake.Called("AcceptFile t1 ") {
		t.Fatalf("accept not sent: %v", fake.Calls())
	}
	moving := offer
	moving.State, moving.Bytes, moving.Rate, moving.ETA = api.TransferActive, 1<<20, 2<<20, 1500*time.Millisecond
	a.apply(api.Event{Transfer: &moving})
	if r.bar.Value != 0.25 || r.accept.Visible() || !r.pause.Visible() || !r.cancel.Visible() || !strings.Contains(r.label.Text, "1.0 MB of 4.0 MB, 2.0 MB/s, 2 s left") {
		t.Fatalf("moving bar: value %v, label %q", r.bar.Value, r.label.Text)
	}
	test.Tap(r.pause)
	if !fake.Called("PauseTransfer t1") {
		t.Fatalf("pause not sent: %v", fake.Calls())
	}
	finished := moving
	finished.State, finished.Bytes, finished.Path = api.TransferDone, 4<<20, "/tmp/in/cat.jpg"
	a.apply(api.Event{Transfer: &finished})
	if len(c.tray.rows) != 0 || len(c.tray.box.Objects) != 0 || c.tray.view.Visible() {
		t.Fatal("a finished transfer stayed in the tray")
	}
	last := c.items[len(c.items)-1]
	if last.transfer == nil || last.note != "cat.jpg (4.0 MB) received from Bob — Open · Show in folder\nSaved in /tmp/in" {
		t.Fatalf("the conversation's last line: %q", last.note)
	}

	c.dropped(fyne.NewPos(1, 1), []fyne.URI{storage.NewFileURI("/tmp/dropped.txt")})
	if !fake.Called("SendFile bob /tmp/dropped.txt") {
		t.Fatalf("dropped file not sent: %v", fake.Calls())
	}
}

// TestLiveStreams: Send live follows a growing file until Stop; a
// contact's live stream shows LIVE and Save writes it into ~/Downloads.
func TestLiveStreams(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.openChat("bob")
	c := a.chats["bob"]
	a.uiDo = func(func()) {} // the streams' label updates are not what this test checks
	old := livePoll
	livePoll = 5 * time.Millisecond
	t.Cleanup(func() { livePoll = old })

	path := filepath.Join(t.TempDir(), "recording.wav")
	if err := os.WriteFile(path, []byte("first part;"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.sendLive(path)
	eventually(t, "the first part streamed", func() bool { return fake.Streamed() == "first part;" })
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("second part")
	f.Close()
	eventually(t, "the file's growth streamed", func() bool { return fake.Streamed() == "first part;second part" })
	row := c.liveRows[0]
	test.Tap(row.stop)
	eventually(t, "the stream closed", func() bool { return fake.Called("CloseStream") })

	home := t.TempDir()
	t.Setenv("HOME", home)
	fake.Lock()
	fake.Incoming["in1"] = "live from bob"
	fake.Unlock()
	a.apply(api.Event{StreamIncoming: &api.StreamEvent{ID: "in1", From: "bob", Label: "screen"}})
	in := c.liveRows[1]
	if !in.accept.Visible() || !strings.Contains(in.label.Text, "LIVE") {
		t.Fatalf("incoming live bar: %q", in.label.Text)
	}
	test.Tap(in.accept)
	eventually(t, "the stream saved", func() bool {
		files, _ := filepath.Glob(filepath.Join(home, "Downloads", "screen.*.live"))
		if len(files) != 1 {
			return false
		}
		b, _ := os.ReadFile(files[0])
		return string(b) == "live from bob"
	})
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
