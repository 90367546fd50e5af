package app

import (
	"context"
	"image/color"
	"net/url"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// chatWindow is the conversation with one contact. It is made once and
// hidden, not closed, so it keeps its place and history when reopened.
type chatWindow struct {
	app   *App
	with  string
	win   fyne.Window
	clock clock

	glyph   *canvas.Image
	nick    *emoticonLabel
	status  *widget.Label
	subnick *emoticonLabel

	// Security: the header's lock button opens the safety number; the
	// banner warns when the contact's device identity changed.
	lock      *widget.Button
	banner    *fyne.Container
	top       *fyne.Container // header, banner, separator: laid out again when the banner shows or hides
	warning   *widget.Label
	verifyBtn *widget.Button
	safety    *safetyView // made on first use

	history *fyne.Container // items with day separators between days, oldest first
	scroll  *container.Scroll
	// follow is true while the history keeps its newest message in view:
	// until the person scrolls up to read (chat_follow.go); newBelow is
	// the marker that then says new messages came.
	follow   bool
	newBelow *widget.Button
	entry    *chatEntry
	send     *widget.Button

	// Display pictures, MSN style: theirs at the top right, ours below it.
	theirPic *displayPicture
	myPic    *displayPicture

	// The toolbar above the entry.
	emoticonBtn *widget.Button
	emoticons   *emoticonPicker // made on first use
	nudgeBtn    *widget.Button

	// Multi-party conversations (conversation.go): Invite brings a contact
	// in; Leave leaves a multi-party conversation.
	inviteBtn  *widget.Button
	leaveBtn   *widget.Button
	invitePick *widget.Select

	// The status bar under the entry: "Bob is typing..." while they type,
	// else when their last message came.
	statusBar   *widget.Label
	typingStop  func() bool // stops the timer that clears "is typing"
	typingShown bool
	lastTyping  time.Time // when we last told the node we are typing
	lastRecv    time.Time // their last message, for the status bar

	// Nudges shake the window's content (Fyne cannot move OS windows).
	shaker     *fyne.Container
	shakeAnim  *fyne.Animation
	shakes     int       // shakes started, for tests
	lastShaken time.Time // received nudges shake at most once per api.NudgeInterval

	// File transfers and live streams in progress: the tray above the
	// entry; finished ones are lines in the conversation (transfers.go).
	sendFile *widget.Button
	tray     *transferTray
	liveBtn  *widget.Button
	liveRows []*liveRow // live streams, both ways (live.go)

	// Voice calls (call.go): the toolbar's Call button, and the bar at the
	// top while a call with the contact rings or runs. callBox is the
	// button with its hover hint over it (hover_hint.go).
	callBtn *widget.Button
	callBox *fyne.Container
	bar     *callBar

	items []*chatItem   // messages and the app's lines, in order
	days  []*dayDivider // the separators in history, to relabel as days pass
	rows  []*messageRow // the messages among items
	byID  map[string]*messageRow
	// early holds deliveries that arrived before Send told us the ID.
	early  map[string]bool
	shown  bool
	closed bool // the window was closed for good (signed out): timers stop
	// offlineSaid: the conversation said the contact is offline and will
	// get the messages later; not again until they were online (offline.go).
	offlineSaid bool
}

// chatItem is one thing shown in the conversation: a message, or a line
// from the app (a nudge, an error).
type chatItem struct {
	when time.Time
	box  fyne.CanvasObject
	row  *messageRow // nil for a line from the app
	note string      // a line's text
	// transfer is a finished transfer's line (transfers.go), or nil.
	transfer *transferLine
}

// messageRow is one message: time, sender, text and, for our own messages,
// a mark for its delivery state (clock queued, check delivered).
type messageRow struct {
	msg      api.Message
	outgoing bool
	item     *chatItem
	from     *widget.Label
	text     *messageText
	mark     *widget.Icon
}

func (a *App) newChatWindow(with string) *chatWindow {
	c := &chatWindow{
		app:    a,
		with:   with,
		win:    a.fyne.NewWindow(a.title(conversationTitle(a.nameOf(with)))),
		clock:  chatClock,
		follow: true,
		byID:   make(map[string]*messageRow),
		early:  make(map[string]bool),
	}
	c.glyph = canvas.NewImageFromResource(glyphOffline)
	c.glyph.FillMode = canvas.ImageFillContain
	c.glyph.SetMinSize(fyne.NewSquareSize(16))
	// Nick and personal message show their emoticons, as the list does.
	c.nick = newEmoticonLabel("")
	c.nick.TextStyle = fyne.TextStyle{Bold: true}
	c.status = widget.NewLabel("")
	c.subnick = newEmoticonLabel("")
	c.subnick.Importance = widget.LowImportance
	c.subnick.Truncation = fyne.TextTruncateEllipsis

	c.history = container.New(&followLayout{inner: layout.NewCustomPaddedVBoxLayout(theme.Padding()), after: c.keepNewestInView})
	c.scroll = container.NewVScroll(c.history)
	c.scroll.OnScrolled = c.scrolled
	c.newBelow = c.newNewBelow()
	c.entry = newChatEntry(c.sendText)
	c.entry.onNudge = c.sendNudge
	c.entry.OnChanged = c.typed
	c.entry.SetPlaceHolder(lang.L("Type a message. Enter sends, Shift+Enter starts a new line."))
	c.send = widget.NewButton(lang.L("Send"), c.sendText)
	c.sendFile = widget.NewButtonWithIcon(lang.L("Send a file"), theme.FileIcon(), c.chooseFile)
	// Not "Live" with a record icon: that reads as a call. It streams a
	// file while it is still being written (live.go).
	c.liveBtn = widget.NewButtonWithIcon(lang.L("Stream a file"), theme.UploadIcon(), c.chooseLive)
	c.callBtn = widget.NewButtonWithIcon(lang.L("Call"), theme.VolumeUpIcon(), c.startCall)
	c.emoticonBtn = widget.NewButtonWithIcon("", emoticonResources[":)"], c.showEmoticons)
	c.nudgeBtn = widget.NewButtonWithIcon(lang.L("Nudge"), nudgeIcon, c.sendNudge)
	c.inviteBtn = widget.NewButtonWithIcon(lang.L("Invite"), theme.ContentAddIcon(), c.showInvite)
	c.leaveBtn = widget.NewButtonWithIcon(lang.L("Leave"), theme.LogoutIcon(), c.leave)
	c.leaveBtn.Hide()
	for _, b := range []*widget.Button{c.sendFile, c.liveBtn, c.emoticonBtn, c.nudgeBtn, c.inviteBtn, c.leaveBtn} {
		b.Importance = widget.LowImportance
	}
	c.tray = newTransferTray()
	c.statusBar = widget.NewLabel("")
	c.statusBar.Importance = widget.LowImportance
	c.statusBar.Truncation = fyne.TextTruncateEllipsis

	c.theirPic = newDisplayPicture(pictureSize, nil)
	c.myPic = newDisplayPicture(pictureSize, nil)
	if a.account != nil {
		c.setMyPicture(*a.account)
	}

	c.lock = widget.NewButtonWithIcon(lang.L("Verify"), theme.VisibilityIcon(), c.showSafety)
	c.lock.Importance = widget.LowImportance
	c.banner = c.newSecurityBanner()
	// Call sits in the header, beside the contact's name, as Messenger
	// 2009 had it: the toolbar over the entry has no room for its words at
	// the window's default width.
	c.callBox = withHint(c.callBtn, c.callHint)
	header := container.NewBorder(nil, nil, nil, container.NewVBox(container.NewHBox(c.callBox, c.lock), c.leaveBtn), container.NewVBox(
		container.NewHBox(container.NewPadded(c.glyph), c.nick, c.status), c.subnick))
	tools := []fyne.CanvasObject{c.emoticonBtn, c.nudgeBtn, widget.NewSeparator(), c.sendFile, c.liveBtn, c.inviteBtn}
	toolbar := container.New(newCompactRow(tools...), tools...)
	entryArea := container.NewBorder(container.NewVBox(c.tray.view, toolbar), nil, nil,
		container.NewVBox(layout.NewSpacer(), c.send), c.entry)
	historyArea := container.NewStack(container.New(&followLayout{after: c.keepNewestInView}, c.scroll),
		container.NewVBox(layout.NewSpacer(), container.NewCenter(c.newBelow)))
	split := container.NewVSplit(historyArea, entryArea)
	split.Offset = 0.74
	pictures := container.NewBorder(c.theirPic, c.myPic, nil, nil)
	c.bar = newCallBar(c)
	c.top = container.NewVBox(header, c.banner, c.bar.box, widget.NewSeparator())
	content := container.NewBorder(c.top, c.statusBar, nil, container.NewPadded(pictures), split)
	c.shaker = container.New(&shakeLayout{}, content)
	c.win.SetContent(c.shaker)
	c.win.Resize(fyne.NewSize(600, 480))
	c.win.SetIcon(iconResource)
	c.win.SetCloseIntercept(c.hide)
	c.win.SetOnClosed(c.close)
	c.win.SetOnDropped(c.dropped) // files dropped on the conversation are sent
	// Ctrl+G nudges, as in MSN; the entry passes it on when it has focus.
	c.win.Canvas().AddShortcut(nudgeShortcut, func(fyne.Shortcut) { c.sendNudge() })
	c.addOfferShortcuts()
	// Typing anywhere in the window writes the message, as in MSN: keys
	// that reach the window with nothing focused (after a click on the
	// history, say) go to the entry.
	c.win.Canvas().SetOnTypedRune(func(r rune) {
		c.win.Canvas().Focus(c.entry)
		c.entry.TypedRune(r)
	})
	c.win.Canvas().SetOnTypedKey(func(k *fyne.KeyEvent) {
		c.win.Canvas().Focus(c.entry)
		c.entry.TypedKey(k)
	})
	if api.IsConversation(with) {
		c.twoPartyOnly()
		c.setConversation(a.conversations[with])
	} else if ct, ok := a.contacts[with]; ok {
		c.setContact(ct)
	} else {
		c.setContact(api.Contact{Username: with})
	}
	return c
}

// show opens the window; focus puts the cursor in the entry.
func (c *chatWindow) show(focus bool) {
	if !c.shown {
		c.shown = true
		c.win.Show()
	}
	if focus {
		c.win.RequestFocus()
		c.win.Canvas().Focus(c.entry)
		c.markSeen(true) // opened by the user: read, if it shows the newest
	}
}

// hide is what closing the window does: it stays, hidden, for next time.
func (c *chatWindow) hide() {
	c.shown = false
	c.win.Hide()
}

// close runs when the window goes for good (signing out): nothing it
// started may outlive it.
func (c *chatWindow) close() {
	c.closed = true
	if c.typingStop != nil {
		c.typingStop()
		c.typingStop = nil
	}
	if c.shakeAnim != nil {
		c.shakeAnim.Stop()
	}
	c.bar.stopTimers()
}

// setContact shows the contact's nick, status and subnick.
func (c *chatWindow) setContact(ct api.Contact) {
	c.glyph.Resource = contactGlyph(ct)
	c.glyph.Refresh()
	c.nick.SetText(displayName(ct))
	st := api.StatusOffline
	if ct.Online() {
		st = ct.Status
	}
	status := "(" + statusLabel(st) + ")"
	if ct.Relation == api.RelationPendingOut {
		status = lang.L("(has not accepted you yet)")
	}
	// How we reach an offline contact is no news, and "(Offline) ·
	// connected directly" contradicts itself (and would give away a
	// contact who appears offline): only the mailbox is said then, to
	// whom we may write.
	if v := viaLabel(ct.Via); v != "" && (ct.Online() || ct.Via == api.ViaMailbox && ct.Relation == api.RelationAccepted) {
		status += " · " + v
	}
	c.status.SetText(status)
	c.subnick.SetText(ct.Subnick)
	c.theirPic.setPicture(ct.AvatarPath)
	c.theirPic.setStatus(ct.Status)
	c.showSecurity(ct)
	c.seenOnline(ct)
	c.callable(ct)
	c.win.SetTitle(c.app.title(conversationTitle(displayName(ct))))
}

// sendText sends what the entry holds and shows it at once, queued.
func (c *chatWindow) sendText() {
	text := strings.TrimRight(c.entry.Text, "\r\n \t")
	if strings.TrimSpace(text) == "" {
		return
	}
	c.entry.SetText("")
	c.follow = true // what we send is shown, wherever we had scrolled
	// The next message's first key tells them we type again at once.
	c.lastTyping = time.Time{}
	row := c.append(api.Message{From: c.app.me(), To: c.with, Text: text, Time: c.clock.Now(), State: api.StateQueued})
	c.sayContactOffline()
	to := c.with
	var id string
	c.app.command(func(ctx context.Context) error {
		var err error
		id, err = c.app.api.Send(ctx, to, text)
		return err
	}, func(err error) {
		if err != nil {
			row.setState(api.StateFailed)
			c.notice(lang.L("This message could not be sent: {{.Error}}", map[string]any{"Error": errorText(err)}))
			return
		}
		c.assignID(row, id)
	})
}

// assignID gives a shown message the ID Send returned, unless the node's
// event already showed it under that ID.
func (c *chatWindow) assignID(row *messageRow, id string) {
	if other := c.byID[id]; other != nil && other != row {
		c.remove(row)
		return
	}
	row.msg.ID = id
	c.byID[id] = row
	if c.early[id] {
		delete(c.early, id)
		row.setState(api.StateDelivered)
	}
}

// add shows a message from the node, once, however often it is reported.
func (c *chatWindow) add(m api.Message) {
	if m.State == api.StateReceived {
		// Their message ends their typing, and the status bar says when it came.
		c.lastRecv = m.Time
		c.clearTyping()
		c.showStatus()
	}
	if row := c.byID[m.ID]; row != nil {
		row.setState(m.State)
		return
	}
	if m.State != api.StateReceived {
		// Our own message, already shown while Send was in flight.
		for _, row := range c.rows {
			if row.outgoing && row.msg.ID == "" && row.msg.State == api.StateQueued && row.msg.Text == m.Text {
				c.assignID(row, m.ID)
				row.setState(m.State)
				return
			}
		}
	}
	row := c.place(m)
	if m.ID != "" {
		c.byID[m.ID] = row
		if c.early[m.ID] {
			delete(c.early, m.ID)
			row.setState(api.StateDelivered)
		}
	}
}

// delivered marks our message id as delivered.
func (c *chatWindow) delivered(id string) {
	if row := c.byID[id]; row != nil {
		row.setState(api.StateDelivered)
		return
	}
	c.early[id] = true
}

// setHistory puts the stored history before whatever arrived meanwhile
// (messages and the app's lines, such as a nudge that opened the window).
func (c *chatWindow) setHistory(history []api.Message) {
	old := c.items
	c.items, c.rows = nil, nil
	seen := make(map[string]bool, len(history))
	shown := c.shownLines(old)
	for _, m := range history {
		if m.Kind != api.KindMessage {
			if it := c.entryItem(m, shown); it != nil {
				c.items = append(c.items, it)
			}
			continue
		}
		seen[m.ID] = true
		if row := c.byID[m.ID]; row != nil {
			row.setState(m.State)
			c.items = append(c.items, row.item)
			c.rows = append(c.rows, row)
			continue
		}
		row := c.newMessageRow(m)
		c.items = append(c.items, row.item)
		c.rows = append(c.rows, row)
		if m.ID != "" {
			c.byID[m.ID] = row
		}
		if m.State == api.StateReceived && m.Time.After(c.lastRecv) {
			c.lastRecv = m.Time
		}
	}
	for _, it := range old {
		if it.row == nil || it.row.msg.ID == "" || !seen[it.row.msg.ID] {
			c.items = append(c.items, it)
			if it.row != nil {
				c.rows = append(c.rows, it.row)
			}
		}
	}
	c.rebuild()
	c.showStatus()
}

// place shows a new message row: at the end, unless it is a received
// message that its author wrote before one already shown (it waited in a
// mailbox while a later one came directly); then just before the first
// such one, where the stored history puts it too (node/store, order.go).
func (c *chatWindow) place(m api.Message) *messageRow {
	if m.State != api.StateReceived {
		return c.append(m)
	}
	at := slices.IndexFunc(c.items, func(it *chatItem) bool {
		r := it.row
		return r != nil && r.msg.State == api.StateReceived && r.msg.From == m.From && r.msg.Time.After(m.Time)
	})
	if at < 0 {
		return c.append(m)
	}
	row := c.newMessageRow(m)
	c.items = slices.Insert(c.items, at, row.item)
	c.rows = slices.Insert(c.rows, slices.Index(c.rows, c.items[at+1].row), row)
	c.rebuild()
	return row
}

// append shows a new message row at the end.
func (c *chatWindow) append(m api.Message) *messageRow {
	row := c.newMessageRow(m)
	c.rows = append(c.rows, row)
	c.addItem(row.item)
	return row
}

func (c *chatWindow) remove(row *messageRow) {
	for i, r := range c.rows {
		if r == row {
			c.rows = append(c.rows[:i], c.rows[i+1:]...)
			break
		}
	}
	for i, it := range c.items {
		if it == row.item {
			c.items = append(c.items[:i], c.items[i+1:]...)
			break
		}
	}
	c.rebuild()
}

// notice shows a line from the app itself, such as an error.
func (c *chatWindow) notice(text string) {
	c.line(text, c.clock.Now(), widget.DangerImportance)
}

// security shows a line saying how messages with the contact are
// protected now, when that fell short of the ratchet or came back to it.
func (c *chatWindow) security(e api.SecurityEvent) {
	if c.closed {
		return
	}
	when := e.Time
	if when.IsZero() {
		when = c.clock.Now()
	}
	name := c.app.nameOf(e.Contact)
	switch e.Kind {
	case api.SecuritySentUnprotected:
		c.line(lang.L("Sent without forward secrecy: {{.Name}}'s computer has published no keys yet. Your messages will be fully protected as soon as it does.",
			map[string]any{"Name": name}), when, widget.WarningImportance)
	case api.SecurityReceivedUnprotected:
		c.line(lang.L("{{.Name}}'s messages reach you without forward secrecy (an older version, or it found no keys of yours).",
			map[string]any{"Name": name}), when, widget.WarningImportance)
	case api.SecurityWaitingForKeys:
		c.line(lang.L("Waiting for {{.Name}}'s keys: your messages will be sent, fully protected, when they arrive.",
			map[string]any{"Name": name}), when, widget.WarningImportance)
	case api.SecurityProtected:
		c.line(lang.L("Messages with {{.Name}} are fully protected again (forward secrecy).", map[string]any{"Name": name}),
			when, widget.SuccessImportance)
	}
}

// line shows a line from the app (a nudge, an error) at time when.
func (c *chatWindow) line(text string, when time.Time, imp widget.Importance) {
	c.addItem(appLine(text, when, imp))
}

// appLine is a line from the app at time when.
func appLine(text string, when time.Time, imp widget.Importance) *chatItem {
	l := widget.NewLabel(text)
	l.Importance = imp
	l.Wrapping = fyne.TextWrapWord
	return &chatItem{when: when, box: l, note: text}
}

// addItem shows it at the end, after a day separator if a new day began.
func (c *chatWindow) addItem(it *chatItem) {
	if n := len(c.items); n == 0 || !sameDay(c.items[n-1].when, it.when) {
		c.addDivider(it.when)
	}
	c.items = append(c.items, it)
	c.history.Add(it.box)
	c.relabelDays()
	c.grew()
}

// rebuild lays out every item again, with its day separators.
func (c *chatWindow) rebuild() {
	c.days = nil
	c.history.Objects = nil
	for i, it := range c.items {
		if i == 0 || !sameDay(c.items[i-1].when, it.when) {
			c.addDivider(it.when)
		}
		c.history.Objects = append(c.history.Objects, it.box)
	}
	c.history.Refresh()
	c.relabelDays()
	c.grew()
}

func (c *chatWindow) addDivider(day time.Time) {
	d := newDayDivider(day)
	c.days = append(c.days, d)
	c.history.Add(d)
}

// relabelDays names each day anew: "Today" becomes "Yesterday" at midnight.
func (c *chatWindow) relabelDays() {
	now := c.clock.Now()
	for _, d := range c.days {
		d.setNow(now)
	}
}

func (c *chatWindow) newMessageRow(m api.Message) *messageRow {
	when := m.Time
	if when.IsZero() {
		when = c.clock.Now()
	}
	row := &messageRow{
		msg:      m,
		outgoing: m.State != api.StateReceived,
		from:     widget.NewLabel(lang.L("{{.Time}}  {{.Name}} says:", map[string]any{"Time": clockText(when), "Name": c.app.nameOf(m.From)})),
		text:     newMessageText(m.Text),
		mark:     widget.NewIcon(nil),
	}
	row.from.Importance = widget.LowImportance
	row.text.onLink = func(u *url.URL) { c.app.openLink(c.win, u) }
	row.setState(m.State)
	// The text sits indented under "says:", as in MSN.
	indent := canvas.NewRectangle(color.Transparent)
	indent.SetMinSize(fyne.NewSize(theme.Padding()*3, 0))
	box := container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2),
		container.NewBorder(nil, nil, nil, row.mark, row.from),
		container.NewBorder(nil, nil, indent, nil, row.text),
	)
	row.item = &chatItem{when: when, box: box, row: row}
	return row
}

// setState shows the delivery state. A message never goes back from
// delivered to queued, whatever order reports arrive in.
func (r *messageRow) setState(s api.MessageState) {
	if r.msg.State == api.StateDelivered && s == api.StateQueued {
		return
	}
	r.msg.State = s
	switch {
	case !r.outgoing:
		r.mark.SetResource(nil)
		r.mark.Hide()
	case s == api.StateDelivered:
		r.mark.SetResource(theme.ConfirmIcon())
	case s == api.StateFailed:
		r.mark.SetResource(theme.NewErrorThemedResource(theme.ErrorIcon()))
	default:
		r.mark.SetResource(theme.HistoryIcon())
	}
}

// chatEntry is a multi-line entry where Enter sends and Shift+Enter starts a
// new line, as in MSN (Fyne's own entry does the opposite).
type chatEntry struct {
	widget.Entry
	onSend  func()
	onNudge func()
	// others are the window's other shortcuts, by name: the entry gets
	// shortcuts before the window does, so it passes these on.
	others map[string]func()
	shift  bool
}

func newChatEntry(onSend func()) *chatEntry {
	e := &chatEntry{onSend: onSend}
	e.MultiLine = true
	e.Wrapping = fyne.TextWrapWord
	e.ExtendBaseWidget(e)
	return e
}

// KeyDown tracks Shift, which the driver reports only as key events.
func (e *chatEntry) KeyDown(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		e.shift = true
	}
	e.Entry.KeyDown(k)
}

// KeyUp tracks Shift.
func (e *chatEntry) KeyUp(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		e.shift = false
	}
	e.Entry.KeyUp(k)
}

// TypedKey sends on Enter and leaves every other key to the entry.
func (e *chatEntry) TypedKey(k *fyne.KeyEvent) {
	if (k.Name == fyne.KeyReturn || k.Name == fyne.KeyEnter) && !e.shift {
		e.onSend()
		return
	}
	e.Entry.TypedKey(k)
}

// TypedShortcut nudges on Ctrl+G: a focused widget gets shortcuts before
// the window does, so the window's own Ctrl+G never sees it while we type.
func (e *chatEntry) TypedShortcut(s fyne.Shortcut) {
	if s.ShortcutName() == nudgeShortcut.ShortcutName() && e.onNudge != nil {
		e.onNudge()
		return
	}
	if f := e.others[s.ShortcutName()]; f != nil {
		f()
		return
	}
	e.Entry.TypedShortcut(s)
}

// FocusLost forgets Shift, whose release another widget may receive.
func (e *chatEntry) FocusLost() {
	e.shift = false
	e.Entry.FocusLost()
}

// viaLabel says in plain words how a contact is reached, for the chat
// header: MSN never told you, but on a peer-to-peer network it explains
// why a message waits.
func viaLabel(v api.Via) string {
	switch v {
	case api.ViaDirect:
		return lang.L("connected directly")
	case api.ViaHolePunched:
		return lang.L("connected directly (through NAT)")
	case api.ViaRelayed:
		return lang.L("connected through a relay")
	case api.ViaMailbox:
		return lang.L("messages will wait in their mailbox")
	default:
		return ""
	}
}

// conversationTitle is a chat window's title: "Bob - Conversation".
func conversationTitle(names string) string {
	return lang.L("{{.Names}} - Conversation", map[string]any{"Names": names})
}
