package app

import (
	"context"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// chatWindow is the conversation with one contact. It is made once and
// hidden, not closed, so it keeps its place and history when reopened.
type chatWindow struct {
	app  *App
	with string
	win  fyne.Window

	glyph   *canvas.Image
	nick    *widget.Label
	status  *widget.Label
	subnick *widget.Label

	// Security: the header's lock button opens the safety number; the
	// banner warns when the contact's device identity changed.
	lock      *widget.Button
	banner    *fyne.Container
	top       *fyne.Container // header, banner, separator: laid out again when the banner shows or hides
	warning   *widget.Label
	verifyBtn *widget.Button
	safety    *safetyView // made on first use

	history *fyne.Container // message rows, oldest first
	scroll  *container.Scroll
	entry   *chatEntry
	send    *widget.Button

	// File transfers: a bar per file above the entry (transfers.go).
	sendFile     *widget.Button
	transferBox  *fyne.Container
	transferRows map[string]*transferRow
	liveBtn      *widget.Button
	liveRows     []*liveRow // live streams, both ways (live.go)

	rows []*messageRow
	byID map[string]*messageRow
	// early holds deliveries that arrived before Send told us the ID.
	early map[string]bool
	shown bool
}

// messageRow is one message: time, sender, text and, for our own messages,
// a mark for its delivery state (clock queued, check delivered).
type messageRow struct {
	msg      api.Message
	outgoing bool
	box      fyne.CanvasObject
	from     *widget.Label
	text     *widget.Label
	mark     *widget.Icon
}

func (a *App) newChatWindow(with string) *chatWindow {
	c := &chatWindow{
		app:   a,
		with:  with,
		win:   a.fyne.NewWindow(a.title(a.nameOf(with) + " - Conversation")),
		byID:  make(map[string]*messageRow),
		early: make(map[string]bool),
	}
	c.glyph = canvas.NewImageFromResource(glyphOffline)
	c.glyph.FillMode = canvas.ImageFillContain
	c.glyph.SetMinSize(fyne.NewSquareSize(16))
	c.nick = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	c.status = widget.NewLabel("")
	c.subnick = widget.NewLabel("")
	c.subnick.Importance = widget.LowImportance
	c.subnick.Truncation = fyne.TextTruncateEllipsis

	c.history = container.NewVBox()
	c.scroll = container.NewVScroll(c.history)
	c.entry = newChatEntry(c.sendText)
	c.entry.SetPlaceHolder("Type a message. Enter sends, Shift+Enter starts a new line.")
	c.send = widget.NewButton("Send", c.sendText)
	c.sendFile = widget.NewButtonWithIcon("", theme.FileIcon(), c.chooseFile)
	c.liveBtn = widget.NewButtonWithIcon("", theme.MediaRecordIcon(), c.chooseLive)
	c.transferBox = container.NewVBox()
	c.transferRows = map[string]*transferRow{}

	avatar := canvas.NewImageFromResource(avatarResource)
	avatar.FillMode = canvas.ImageFillContain
	avatar.SetMinSize(fyne.NewSquareSize(48))
	c.lock = widget.NewButtonWithIcon("Verify", theme.VisibilityIcon(), c.showSafety)
	c.lock.Importance = widget.LowImportance
	c.banner = c.newSecurityBanner()
	header := container.NewBorder(nil, nil, avatar, container.NewVBox(c.lock), container.NewVBox(
		container.NewHBox(container.NewPadded(c.glyph), c.nick, c.status), c.subnick))
	entryArea := container.NewBorder(c.transferBox, nil, nil, container.NewHBox(c.sendFile, c.liveBtn, c.send), c.entry)
	split := container.NewVSplit(c.scroll, entryArea)
	split.Offset = 0.78
	c.top = container.NewVBox(header, c.banner, widget.NewSeparator())
	c.win.SetContent(container.NewBorder(c.top, nil, nil, nil, split))
	c.win.Resize(fyne.NewSize(480, 420))
	c.win.SetIcon(iconResource)
	c.win.SetCloseIntercept(c.hide)
	c.win.SetOnDropped(c.dropped) // files dropped on the conversation are sent
	if ct, ok := a.contacts[with]; ok {
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
	}
}

// hide is what closing the window does: it stays, hidden, for next time.
func (c *chatWindow) hide() {
	c.shown = false
	c.win.Hide()
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
		status = "(has not accepted you yet)"
	}
	if v := viaLabel(ct.Via); v != "" {
		status += " · " + v
	}
	c.status.SetText(status)
	c.subnick.SetText(ct.Subnick)
	c.showSecurity(ct)
	c.win.SetTitle(c.app.title(displayName(ct) + " - Conversation"))
}

// sendText sends what the entry holds and shows it at once, queued.
func (c *chatWindow) sendText() {
	text := strings.TrimRight(c.entry.Text, "\r\n \t")
	if strings.TrimSpace(text) == "" {
		return
	}
	c.entry.SetText("")
	row := c.append(api.Message{From: c.app.me(), To: c.with, Text: text, Time: time.Now(), State: api.StateQueued})
	to := c.with
	var id string
	c.app.command(func(ctx context.Context) error {
		var err error
		id, err = c.app.api.Send(ctx, to, text)
		return err
	}, func(err error) {
		if err != nil {
			row.setState(api.StateFailed)
			c.notice("This message could not be sent: " + errorText(err))
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
	row := c.append(m)
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

// setHistory puts the stored history before whatever arrived meanwhile.
func (c *chatWindow) setHistory(history []api.Message) {
	old := c.rows
	c.rows = nil
	c.history.RemoveAll()
	seen := make(map[string]bool, len(history))
	for _, m := range history {
		seen[m.ID] = true
		if row := c.byID[m.ID]; row != nil {
			row.setState(m.State)
			c.rows = append(c.rows, row)
			c.history.Add(row.box)
			continue
		}
		c.add(m)
	}
	for _, row := range old {
		if row.msg.ID == "" || !seen[row.msg.ID] {
			c.rows = append(c.rows, row)
			c.history.Add(row.box)
		}
	}
	c.scroll.ScrollToBottom()
}

// append shows a new message row at the end.
func (c *chatWindow) append(m api.Message) *messageRow {
	row := c.newMessageRow(m)
	c.rows = append(c.rows, row)
	c.history.Add(row.box)
	c.scroll.ScrollToBottom()
	return row
}

func (c *chatWindow) remove(row *messageRow) {
	for i, r := range c.rows {
		if r == row {
			c.rows = append(c.rows[:i], c.rows[i+1:]...)
			break
		}
	}
	c.history.Remove(row.box)
}

// notice shows a line from the app itself, such as an error.
func (c *chatWindow) notice(text string) {
	l := widget.NewLabel(text)
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	c.history.Add(l)
	c.scroll.ScrollToBottom()
}

func (c *chatWindow) newMessageRow(m api.Message) *messageRow {
	row := &messageRow{
		msg:      m,
		outgoing: m.State != api.StateReceived,
		from:     widget.NewLabel(m.Time.Local().Format("15:04") + "  " + c.app.nameOf(m.From) + " says:"),
		text:     widget.NewLabel(m.Text),
		mark:     widget.NewIcon(nil),
	}
	row.from.Importance = widget.LowImportance
	row.text.Wrapping = fyne.TextWrapWord
	row.setState(m.State)
	row.box = container.New(layout.NewCustomPaddedVBoxLayout(0),
		container.NewBorder(nil, nil, nil, row.mark, row.from),
		container.NewBorder(nil, nil, layout.NewSpacer(), nil, row.text),
	)
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
	onSend func()
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
		return "connected directly"
	case api.ViaHolePunched:
		return "connected directly (through NAT)"
	case api.ViaRelayed:
		return "connected through a relay"
	case api.ViaMailbox:
		return "messages will wait in their mailbox"
	default:
		return ""
	}
}
