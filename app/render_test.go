package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"eserver/assets"
	"eserver/node/api"
)

// Render tests: the sign-in, Options, contact-list and conversation windows, drawn by Fyne's software
// renderer in both themes, must match the PNGs in testdata/ pixel for pixel,
// so an unintended change to how a window looks fails a test instead of
// reaching users unseen.
//
// When a change is intended, the failing test writes what it drew to
// testdata/failed/; look at it, and if it is right make it the new golden
// file: `make golden` (or copy testdata/failed/*.png over testdata/).

// renderApp is a test app whose windows draw in theme.
func renderApp(t *testing.T, themeName string) (*App, *fakeAPI) {
	t.Helper()
	fa := test.NewTempApp(t)
	prefs := NewMemoryPrefs()
	prefs.SetString(prefTheme, themeName)
	fake := newFakeAPI()
	a := New(fa, fake, Options{
		DefaultServer: testServer,
		Profile:       "test",
		ProfileDir:    "/home/alice/.config/eserver/default",
		Prefs:         prefs,
	})
	a.run = func(f func()) { f() }
	// The test driver applies a theme asynchronously; wait for ours, or
	// the first capture could still show the previous one.
	test.ApplyTheme(t, fa.Settings().Theme())
	a.apply(api.Event{Snapshot: &api.Snapshot{}})
	return a, fake
}

func TestRenderSignIn(t *testing.T) {
	for _, th := range []string{themeLight, themeDark} {
		t.Run(th, func(t *testing.T) {
			a, _ := renderApp(t, th)
			w := a.signIn.win
			w.Resize(signInSize)
			a.signIn.username.SetText("alice")
			test.AssertRendersToImage(t, "signin-"+th+".png", w.Canvas())
			// The error state: a failed sign-in shows its reason in red.
			a.signIn.showError("The username or password is incorrect.")
			// The desktop driver lays a window out again when a hidden
			// object appears; the test driver needs asking.
			w.Content().Refresh()
			test.AssertRendersToImage(t, "signin-error-"+th+".png", w.Canvas())
		})
	}
}

func TestRenderOptions(t *testing.T) {
	for _, th := range []string{themeLight, themeDark} {
		t.Run(th, func(t *testing.T) {
			a, _ := renderApp(t, th)
			a.signIn.username.SetText("alice")
			a.signIn.password.SetText("secret")
			test.Tap(a.signIn.button)
			acc := *a.account
			acc.Nick, acc.Subnick = "Alice", "at the beach"
			a.apply(api.Event{Account: &acc, Role: &api.RoleEvent{Role: api.RoleNode, Reason: "not publicly reachable",
				Time: time.Date(2026, 11, 24, 15, 4, 0, 0, time.Local)}})
			a.showOptions()
			s := a.settings
			s.win.Resize(fyne.NewSize(640, 520))
			// Devices lists times that change from run to run: its
			// content is tested by TestDevicesAndPassword instead.
			for i, name := range []string{"profile", "general", "appearance", "network", "storage"} {
				s.tabs.SelectIndex(i)
				test.AssertRendersToImage(t, "options-"+name+"-"+th+".png", s.win.Canvas())
			}
		})
	}
}

// renderDay is a fixed moment for the conversation render, so its times
// and day separator never change between runs.
var renderDay = time.Date(2026, 11, 21, 14, 5, 0, 0, time.Local)

// signedInRender is renderApp signed in as Alice with a list to show: a
// group, online and offline contacts, a pending request.
func signedInRender(t *testing.T, th string) (*App, *fakeAPI) {
	a, fake := renderApp(t, th)
	a.signIn.username.SetText("alice")
	a.signIn.password.SetText("secret")
	test.Tap(a.signIn.button)
	acc := *a.account
	acc.Nick, acc.Subnick, acc.Status = "Alice", "Saturday: beach volleyball!", api.StatusOnline
	a.apply(api.Event{Account: &acc})
	people := []api.Contact{
		{Username: "bob", Relation: api.RelationAccepted, Via: api.ViaDirect,
			Presence: api.Presence{Status: api.StatusOnline, Nick: "Bob", Subnick: "Off to the beach"}},
		{Username: "carol", Relation: api.RelationAccepted, Group: "Work",
			Presence: api.Presence{Status: api.StatusBusy, Nick: "Carol", Subnick: "Deadline today"}},
		{Username: "dave", Relation: api.RelationAccepted, Group: "Work", Presence: api.Presence{Status: api.StatusOffline, Nick: "Dave"}},
		{Username: "erin", Relation: api.RelationAccepted, Presence: api.Presence{Status: api.StatusAway, Nick: "Erin", Media: "Daft Punk - One More Time"}},
		{Username: "frank", Relation: api.RelationAccepted, Presence: api.Presence{Status: api.StatusOffline, Nick: "Frank"}},
		{Username: "grace", Relation: api.RelationPendingIn, RequestMessage: "Hi, it's Grace from the club"},
	}
	for _, c := range people {
		a.apply(api.Event{Contact: &c})
	}
	return a, fake
}

// TestRenderContactList: the list with small display pictures (the
// default) in both themes, Bob and Carol with pictures of their own, the
// others with the default one; with large pictures; and with messages
// waiting from Carol and Erin.
func TestRenderContactList(t *testing.T) {
	for _, th := range []string{themeLight, themeDark} {
		t.Run(th, func(t *testing.T) {
			a, _ := signedInRender(t, th)
			dir := t.TempDir()
			for i, who := range []string{"bob", "carol"} {
				c := a.contacts[who]
				c.AvatarPath = filepath.Join(dir, who+".png")
				if err := os.WriteFile(c.AvatarPath, assets.Pictures[i+1].PNG, 0o600); err != nil {
					t.Fatal(err)
				}
				a.apply(api.Event{Contact: &c})
			}
			w := a.main.win
			w.Resize(fyne.NewSize(360, 620))
			w.Content().Refresh() // the request card appeared: lay out again, as the desktop driver does
			test.AssertRendersToImage(t, "contacts-"+th+".png", w.Canvas())
			if th == themeLight {
				a.setPictureMode(picturesLarge)
				test.AssertRendersToImage(t, "contacts-large-"+th+".png", w.Canvas())
				// Messages waiting: the name bold with their count.
				a.setPictureMode(picturesSmall)
				a.apply(api.Event{Read: &api.ReadEvent{Conversation: "carol", Unread: 3}})
				a.apply(api.Event{Read: &api.ReadEvent{Conversation: "erin", Unread: 1}})
				test.AssertRendersToImage(t, "contacts-unread-"+th+".png", w.Canvas())
			}
		})
	}
}

func TestRenderConversation(t *testing.T) {
	for _, th := range []string{themeLight, themeDark} {
		t.Run(th, func(t *testing.T) {
			useFakeClock(t, renderDay.Add(10*time.Minute))
			a, _ := signedInRender(t, th)
			c := a.chat("bob")
			c.setHistory([]api.Message{
				{ID: "m1", From: "bob", To: "alice", Text: "Hi Alice! :) Are we still on for Saturday?", Time: renderDay, State: api.StateReceived},
				{ID: "m2", From: "alice", To: "bob", Text: "Sure! I'll bring the volleyball (y)", Time: renderDay.Add(time.Minute), State: api.StateDelivered},
				{ID: "m3", From: "bob", To: "alice", Text: "Great, see you at 10 by the pier :D", Time: renderDay.Add(2 * time.Minute), State: api.StateReceived},
			})
			c.show(false)
			c.win.Resize(fyne.NewSize(600, 480))
			test.AssertRendersToImage(t, "conversation-"+th+".png", c.win.Canvas())
		})
	}
}

// TestRenderTransfers: a conversation with two finished transfers, told as
// lines among the messages, and one moving in the tray above the entry.
func TestRenderTransfers(t *testing.T) {
	for _, th := range []string{themeLight, themeDark} {
		t.Run(th, func(t *testing.T) {
			useFakeClock(t, renderDay.Add(10*time.Minute))
			a, _ := signedInRender(t, th)
			c := a.chat("bob")
			c.setHistory([]api.Message{
				{ID: "m1", From: "bob", To: "alice", Text: "Here are the photos from Saturday :)", Time: renderDay, State: api.StateReceived},
			})
			c.show(false)
			c.win.Resize(fyne.NewSize(600, 480))
			for _, tr := range []api.Transfer{
				{ID: "t1", Peer: "bob", Name: "beach.png", Size: 19 << 10, State: api.TransferDone, Bytes: 19 << 10,
					Path: "/home/alice/Downloads/beach.png"},
				{ID: "t2", Peer: "bob", Outgoing: true, Name: "scores.ods", Size: 88 << 10, State: api.TransferDone, Bytes: 88 << 10,
					Path: "/home/alice/scores.ods"},
				{ID: "t3", Peer: "bob", Name: "volleyball.mov", Size: 381 << 20, State: api.TransferActive, Bytes: 120 << 20,
					Rate: 12 << 20, ETA: 22 * time.Second},
			} {
				a.apply(api.Event{Transfer: &tr})
			}
			c.win.Content().Refresh() // the tray appeared: lay out again, as the desktop driver does
			test.AssertRendersToImage(t, "transfers-"+th+".png", c.win.Canvas())
		})
	}
}

// TestRenderHistoryLine: the contact list while the history comes from
// another computer: one thin line of progress under the header.
func TestRenderHistoryLine(t *testing.T) {
	a, _ := signedInRender(t, themeLight)
	a.apply(api.Event{History: &api.HistoryEvent{Direction: api.HistoryReceiving, Done: 1234, Total: 5000}})
	w := a.main.win
	w.Resize(fyne.NewSize(360, 620))
	w.Content().Refresh()
	test.AssertRendersToImage(t, "contacts-history-"+themeLight+".png", w.Canvas())
}
