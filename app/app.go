// Package app is EServer's desktop front end in the manner of Windows Live
// Messenger: a sign-in window, the contact list and one chat window per
// conversation.
//
// It sees the node only through api.API. Commands run off the UI goroutine
// and report back through fyne.Do; one goroutine drains API.Watch and applies
// every event inside fyne.Do. Nothing else touches widgets, so all of App's
// state below is owned by Fyne's goroutine.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"

	"eserver/assets"
	"eserver/node/api"
)

// Options configure an App. The zero value is usable.
type Options struct {
	// DefaultServer is the auth server multiaddr prefilled in the sign-in
	// window and used when the user leaves the server empty. Empty lets the
	// node use the server remembered in its profile.
	DefaultServer string
	// Profile names the node profile, shown in window titles. Empty is the
	// default profile.
	Profile string
	// Prefs holds the profile's settings (remembered sign-in, theme,
	// notifications, start settings): OpenPrefs on the profile directory,
	// so two profiles running at once never share a settings file. Nil
	// keeps them in memory for the life of the App, as tests want; the Fyne
	// app's own shared Preferences are never used.
	Prefs fyne.Preferences
	// ProfileDir is where the node keeps the profile, shown in Options.
	ProfileDir string
	// Version is the version the binary was built as, shown in Help >
	// About. Empty says "Development build".
	Version string
	// Started is what the node was started with from ReadStartSettings, so
	// Options can tell it from what the next start will use.
	Started StartSettings
	// Keyring keeps the password for "Sign me in automatically":
	// SystemKeyring, the desktop's. Nil is none: the sign-in window says
	// the password cannot be remembered (tests never touch a real one).
	Keyring Keyring
}

// App is the desktop messenger. Create it with New, then call Start.
type App struct {
	fyne  fyne.App
	api   api.API
	opts  Options
	prefs fyne.Preferences // opts.Prefs, or settings in memory

	ctx context.Context // for commands; the one given to Start
	wg  sync.WaitGroup  // the event goroutine and commands in flight
	// run executes a command off the UI goroutine. Tests replace it to run
	// commands inline, which the test driver's synchronous fyne.Do allows.
	run func(func())
	// uiDo brings updates from long-running background work (live streams)
	// onto Fyne's goroutine: fyne.Do. Tests that run such work replace it,
	// since the test driver's fyne.Do runs the update on the caller's
	// goroutine, beside the test's own.
	uiDo func(func())

	account  *api.Account // nil when signed out
	contacts map[string]api.Contact

	signIn   *signInWindow
	main     *mainWindow
	settings *settingsWindow // nil until first opened
	history  *historyWindow  // nil until first opened
	help     *helpMenu       // the contact list's Help menu (help.go)

	passwordDlg *passwordDialog // the last Change password dialog, for tests
	lastRole    *api.RoleEvent  // the latest role change, for the options window
	chats       map[string]*chatWindow
	// conversations are the multi-party conversations we know (with their
	// members), by ID.
	conversations map[string]api.Conversation

	// Desktop integration (tray.go, notify.go, idle.go). Tests replace
	// the sinks and sources.
	tray desktop.App // nil when the desktop shows no tray icons
	fg   *foreground
	away awayState
	// notifySink shows a notification and returns the desktop's ID for
	// it (0: none to withdraw); it fails where the desktop has no
	// notification service. withdrawSink takes one back by that ID.
	notifySink   func(context.Context, *fyne.Notification) (uint32, error)
	withdrawSink func(context.Context, uint32) error
	// notified are the IDs of the desktop notifications shown for each
	// conversation, to withdraw once it is read (unread.go).
	notified      map[string][]uint32
	sounds        soundPlayer
	windowFocused func(fyne.Window) bool
	// openURL and portal open files and folders (open.go): Fyne's URL
	// opening and the freedesktop portal. Tests replace them.
	openURL func(*url.URL) error
	portal  func(path string, folder bool) error

	// transferWins is the window that shows each transfer in progress, by
	// ID; sending, the window of each offer whose ID is not known yet
	// (transfers.go).
	transferWins map[string]*chatWindow
	sending      map[pendingSend]*chatWindow

	rooms roomsState // chat rooms: the directory and the rooms joined (rooms.go)
	calls callsState // voice calls ringing here (call.go)
}

// New builds the windows (none is shown yet) of an app that drives api.
// Call it on Fyne's goroutine, before a.Run.
func New(a fyne.App, backend api.API, opts Options) *App {
	a.SetIcon(iconResource)
	prefs := opts.Prefs
	if prefs == nil {
		prefs = NewMemoryPrefs()
	}
	app := &App{
		prefs:         prefs,
		uiDo:          fyne.Do,
		fyne:          a,
		api:           backend,
		opts:          opts,
		ctx:           context.Background(),
		run:           func(f func()) { go f() },
		contacts:      make(map[string]api.Contact),
		chats:         make(map[string]*chatWindow),
		conversations: make(map[string]api.Conversation),
		rooms:         roomsState{wins: make(map[string]*roomWindow)},
		calls:         callsState{incoming: make(map[string]*incomingCall)},
		openURL:       a.OpenURL,
		portal:        portalOpen,
	}
	app.forgetTransfers()
	app.setupDesktop()
	app.signIn = app.newSignInWindow()
	app.main = app.newMainWindow()
	app.setupTray()
	return app
}

// Start shows the sign-in window and starts the goroutine that applies the
// node's events to the windows until ctx ends. Commands the user starts run
// with ctx too. Call it once, on Fyne's goroutine.
func (a *App) Start(ctx context.Context) {
	a.ctx = ctx
	if a.account == nil {
		a.signIn.win.Show()
		a.signIn.focus()
	}
	a.startAutoSignIn()
	// Auto-away runs as long as events flow: the stream ending (the node
	// closing) ends it too, so Wait returns.
	idleCtx, stopIdle := context.WithCancel(ctx)
	a.watchIdle(idleCtx)
	events := a.api.Watch(ctx)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer stopIdle()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				fyne.Do(func() { a.apply(ev) })
			}
		}
	}()
}

// Wait blocks until the event goroutine and every command the app started
// have returned. Call it after the context given to Start has ended.
func (a *App) Wait() { a.wg.Wait() }

// command runs fn off the UI goroutine, then done (if not nil) with fn's
// error on the UI goroutine.
func (a *App) command(fn func(ctx context.Context) error, done func(error)) {
	ctx := a.ctx
	a.wg.Add(1)
	a.run(func() {
		defer a.wg.Done()
		err := fn(ctx)
		if done != nil {
			fyne.Do(func() { done(err) })
		}
	})
}

// apply changes the windows for one event. It runs on Fyne's goroutine.
func (a *App) apply(ev api.Event) {
	a.alertFor(ev)
	if s := ev.Snapshot; s != nil {
		a.contacts = make(map[string]api.Contact, len(s.Contacts))
		for _, c := range s.Contacts {
			a.contacts[c.Username] = c
		}
		if s.Account != nil {
			a.signedIn(*s.Account)
		} else if a.account != nil {
			a.signedOut()
		}
		a.contactsChanged()
	}
	if ev.Account != nil {
		a.signedIn(*ev.Account)
	}
	if ev.SignedOut {
		a.signedOut()
		if ev.SignedOutReason != "" {
			a.signIn.errText.SetText(signedOutText(ev.SignedOutCode, ev.SignedOutReason))
		}
	}
	if c := ev.Contact; c != nil {
		before, known := a.contacts[c.Username]
		a.contacts[c.Username] = *c
		a.contactsChanged()
		if chat := a.chats[c.Username]; chat != nil {
			chat.setContact(*c)
		}
		a.memberPresence(before, known, *c)
	}
	if u := ev.ContactRemoved; u != "" {
		delete(a.contacts, u)
		a.contactsChanged()
	}
	if r := ev.ContactRequest; r != nil {
		c, known := a.contacts[r.From]
		if !known || c.Relation == api.RelationPendingIn {
			c.Username, c.Relation, c.RequestMessage = r.From, api.RelationPendingIn, r.Message
			a.contacts[r.From] = c
			a.contactsChanged()
		}
	}
	if m := ev.Message; m != nil {
		a.message(*m)
	}
	if r := ev.Read; r != nil {
		a.read(*r)
	}
	if t := ev.Transfer; t != nil {
		a.transfer(*t)
	}
	if s := ev.StreamIncoming; s != nil {
		a.liveIncoming(*s)
	}
	if cv := ev.Conversation; cv != nil {
		a.conversationChanged(*cv)
	}
	if t := ev.Typing; t != nil {
		// Typing shows only in an open conversation; it never opens one.
		if chat := a.chats[t.From]; chat != nil {
			chat.typing()
		}
	}
	if n := ev.Nudge; n != nil {
		a.chat(n.From).nudged(*n)
	}
	if se := ev.Security; se != nil {
		// Shown in an open conversation, where the user is writing; it
		// opens none.
		if chat := a.chats[se.Contact]; chat != nil {
			chat.security(*se)
		}
	}
	if d := ev.Delivered; d != nil {
		if chat := a.chats[d.To]; chat != nil {
			chat.delivered(d.ID)
		}
	}
	if om := ev.OfflineMessages; om != nil {
		a.main.offline.show(a, *om)
	}
	if h := ev.History; h != nil {
		a.main.history.show(*h)
	}
	if m := ev.RoomMessage; m != nil {
		a.roomMessage(*m)
	}
	if e := ev.RoomEvent; e != nil {
		a.roomEvent(*e)
	}
	a.callEvent(ev)
	if r := ev.Role; r != nil {
		a.lastRole = r
		if a.settings != nil {
			a.settings.showRole(r.Role, r)
		}
	}
}

// signedIn shows the contact list for acc, or updates it when our own
// presence changed.
func (a *App) signedIn(acc api.Account) {
	first := a.account == nil
	a.account = &acc
	a.main.setAccount(acc)
	a.keepSignInPicture(acc)
	for _, chat := range a.chats {
		chat.setMyPicture(acc)
	}
	if a.settings != nil {
		a.settings.setAccount(acc, a.lastRole)
	}
	a.refreshTray()
	if first {
		a.loadConversations()
		a.loadCalls()
		a.reopenRooms()
		a.signIn.setBusy(false)
		a.signIn.password.SetText("")
		a.main.win.Show()
		a.signIn.win.Hide()
	}
}

// signedOut closes every conversation and returns to the sign-in window.
func (a *App) signedOut() {
	if a.account == nil {
		return
	}
	a.account = nil
	if a.settings != nil {
		a.settings.hide()
	}
	if a.history != nil {
		// The next account must not see this one's search.
		a.history.reset()
		a.history.win.Hide()
	}
	a.main.closeWindows()
	a.contacts = make(map[string]api.Contact)
	a.conversations = make(map[string]api.Conversation)
	a.notified = nil // the next account's are its own; the desktop's fade by themselves
	a.endCalls()
	for u, chat := range a.chats {
		chat.win.Close()
		delete(a.chats, u)
	}
	a.forgetTransfers()
	a.closeRooms()
	a.contactsChanged()
	a.signIn.setBusy(false)
	a.signIn.win.Show()
	a.signIn.focus()
	a.main.win.Hide()
	a.refreshTray()
}

// message shows a new message in its conversation; an incoming message
// opens the conversation if it was closed, as MSN did.
func (a *App) message(m api.Message) {
	if m.State == api.StateReceived {
		with := m.From
		if api.IsConversation(m.To) {
			with = m.To // a multi-party conversation's window, not the author's
		}
		chat := a.chat(with)
		chat.add(m)
		chat.show(false)
		if chat.seesNewest(false) {
			a.markRead(with) // read as it comes: the node's mark must move too
		} else {
			// Unread until the user reads it here, or on another device
			// of theirs (a Read event sets the count the node has).
			a.setUnread(with, a.unread(with)+1)
		}
		return
	}
	if chat := a.chats[m.To]; chat != nil {
		chat.add(m)
	}
}

// chat returns the conversation with username, creating its (hidden) window
// and loading its history the first time.
func (a *App) chat(username string) *chatWindow {
	if chat := a.chats[username]; chat != nil {
		return chat
	}
	chat := a.newChatWindow(username)
	a.chats[username] = chat
	var history []api.Message
	a.command(func(ctx context.Context) error {
		var err error
		history, err = a.api.History(ctx, username, historyLimit, "")
		return err
	}, func(err error) {
		if a.chats[username] != chat {
			return // closed by signing out meanwhile
		}
		if err != nil {
			chat.notice(lang.L("The conversation history could not be loaded: {{.Reason}}", map[string]any{"Reason": errorText(err)}))
			return
		}
		chat.setHistory(history)
	})
	return chat
}

// openChat shows the conversation with username, focused.
func (a *App) openChat(username string) {
	a.chat(username).show(true)
}

// me is our own username, or "" when signed out.
func (a *App) me() string {
	if a.account == nil {
		return ""
	}
	return a.account.Username
}

// nameOf is how username is shown: our own or a contact's nick, else the username.
func (a *App) nameOf(username string) string {
	if a.account != nil && username == a.account.Username {
		if a.account.Nick != "" {
			return a.account.Nick
		}
		return username
	}
	if c, ok := a.contacts[username]; ok {
		return displayName(c)
	}
	return username
}

// title names a window, with the profile when there is one.
func (a *App) title(s string) string {
	if a.opts.Profile == "" {
		return s
	}
	return fmt.Sprintf("%s (%s)", s, a.opts.Profile)
}

// signedOutText says in the language in use why the node ended the
// session, from its stable code; reason, the node's English words for
// logs, goes to the log when the code is one the app does not know.
func signedOutText(code, reason string) string {
	switch code {
	case api.SignedOutRevoked:
		return lang.L("This computer was removed from your account.")
	case api.SignedOutRevokedElsewhere:
		return lang.L("This computer was removed from your account from another device.")
	}
	fyne.LogError("signed out: "+reason, nil)
	return lang.L("You were signed out.")
}

// historyLimit is how many messages a conversation loads when opened.
const historyLimit = 100

// displayName is how a contact is shown: the name we gave it, else its
// nick, else its username.
func displayName(c api.Contact) string {
	if c.Alias != "" {
		return c.Alias
	}
	if c.Nick != "" {
		return c.Nick
	}
	return c.Username
}

// sortContacts orders contacts by shown name, case-insensitively.
func sortContacts(cs []api.Contact) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := strings.ToLower(displayName(cs[i])), strings.ToLower(displayName(cs[j]))
		if a != b {
			return a < b
		}
		return cs[i].Username < cs[j].Username
	})
}

// errorText says what went wrong in plain words. An error without a code
// the app knows is told in a general sentence, its detail logged: the
// person never reads a Go error string.
func errorText(err error) string {
	switch api.Code(err) {
	case "":
		return ""
	case "login_failed":
		return lang.L("The username or password is incorrect.")
	case "username_taken":
		return lang.L("That username is already taken. Please choose another one.")
	case "not_contact":
		return lang.L("That person has not accepted you as a contact yet.")
	case "rate_limited":
		return lang.L("Too many attempts. Please wait a moment and try again.")
	case "bad_request":
		return lang.L("Please check what you typed and try again.")
	case "not_logged_in":
		return lang.L("You are not signed in.")
	case "unreachable":
		return lang.L("The server could not be reached. Check your connection and the server address.")
	case "blocked":
		return lang.L("That contact is blocked.")
	case "no_such_user":
		return lang.L("There is no one with that username. Please check the spelling.")
	case "device_revoked":
		return lang.L("This computer was removed from your account. Sign in from a computer that still belongs to it.")
	}
	if errors.Is(err, context.Canceled) {
		return lang.L("The operation was cancelled.")
	}
	fyne.LogError("shown as a general error", err) // the detail, for whoever reads the log
	return lang.L("Something went wrong. Please try again.")
}

// Pictures from package assets, wrapped for Fyne.
var (
	iconResource   = fyne.NewStaticResource("icon.png", assets.Icon)
	avatarResource = fyne.NewStaticResource("avatar.png", assets.Avatar)
	glyphOnline    = fyne.NewStaticResource("status-online.png", assets.StatusOnline)
	glyphBusy      = fyne.NewStaticResource("status-busy.png", assets.StatusBusy)
	glyphAway      = fyne.NewStaticResource("status-away.png", assets.StatusAway)
	glyphOffline   = fyne.NewStaticResource("status-offline.png", assets.StatusOffline)
	glyphBlocked   = fyne.NewStaticResource("status-blocked.png", assets.StatusBlocked)
	glyphByStatus  = map[api.Status]fyne.Resource{
		api.StatusOnline: glyphOnline,
		api.StatusBusy:   glyphBusy, api.StatusPhone: glyphBusy,
		api.StatusAway: glyphAway, api.StatusBRB: glyphAway, api.StatusLunch: glyphAway,
	}
)

// glyph is the status bullet for s: green, red, orange or grey.
func glyph(s api.Status) fyne.Resource {
	if r, ok := glyphByStatus[s]; ok {
		return r
	}
	return glyphOffline
}

// contactGlyph is the bullet a contact shows: grey unless accepted and
// online, struck through when blocked.
func contactGlyph(c api.Contact) fyne.Resource {
	if c.Relation == api.RelationBlocked {
		return glyphBlocked
	}
	if !c.Online() {
		return glyphOffline
	}
	return glyph(c.Status)
}

// statusLabel is the word MSN used for status s, in the language in use.
func statusLabel(s api.Status) string {
	switch s {
	case api.StatusOnline:
		return lang.L("Available")
	case api.StatusBusy:
		return lang.L("Busy")
	case api.StatusAway:
		return lang.L("Away")
	case api.StatusBRB:
		return lang.L("Be right back")
	case api.StatusPhone:
		return lang.L("On the phone")
	case api.StatusLunch:
		return lang.L("Out to lunch")
	case api.StatusInvisible:
		return lang.L("Appear offline")
	}
	return lang.L("Offline")
}

// statusOptions are the labels of api.Statuses, in menu order.
func statusOptions() []string {
	opts := make([]string, len(api.Statuses))
	for i, s := range api.Statuses {
		opts[i] = statusLabel(s)
	}
	return opts
}

// statusFromLabel is the status a menu label names.
func statusFromLabel(label string) (api.Status, bool) {
	for _, s := range api.Statuses {
		if statusLabel(s) == label {
			return s, true
		}
	}
	return "", false
}
