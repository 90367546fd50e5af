package app

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// mainWindow is the contact list.
type mainWindow struct {
	win       fyne.Window
	avatar    *canvas.Image
	ownGlyph  *canvas.Image
	nick      *widget.Button // shows our nick; tap to edit
	nickEntry *widget.Entry  // replaces nick while editing
	subnick   *widget.Entry  // "Share a quick message"
	status    *widget.Select
	search    *widget.Entry
	addButton *widget.Button

	requests    *fyne.Container // pending incoming requests, hidden when none
	requestRows map[string]*requestRow

	list *widget.List
	rows []listRow // what list shows: group headers and contacts

	signOutItem  *fyne.MenuItem
	addItem      *fyne.MenuItem
	optionsItem  *fyne.MenuItem
	passwordItem *fyne.MenuItem

	addDialog *addContactDialog // nil until first opened

	// updating is set while the window shows new state, so widget
	// callbacks do not send it back to the node as user changes.
	updating bool
}

// listRow is a group header ("Online (3)") or a contact.
type listRow struct {
	header  string
	contact api.Contact
}

// requestRow is one incoming contact request with its answers.
type requestRow struct {
	box     fyne.CanvasObject
	text    *widget.Label
	accept  *widget.Button
	decline *widget.Button
	block   *widget.Button
}

// addContactDialog asks for a username and a note to send with the request.
type addContactDialog struct {
	dlg      *dialog.CustomDialog
	username *widget.Entry
	message  *widget.Entry
	add      *widget.Button
	cancel   *widget.Button
	errText  *widget.Label
}

func (a *App) newMainWindow() *mainWindow {
	m := &mainWindow{win: a.fyne.NewWindow(a.title("EServer Messenger")), requestRows: make(map[string]*requestRow)}

	m.avatar = canvas.NewImageFromResource(avatarResource)
	m.avatar.FillMode = canvas.ImageFillContain
	m.avatar.SetMinSize(fyne.NewSquareSize(64))
	m.ownGlyph = canvas.NewImageFromResource(glyphOffline)
	m.ownGlyph.FillMode = canvas.ImageFillContain
	m.ownGlyph.SetMinSize(fyne.NewSquareSize(14))

	m.nick = widget.NewButton("", nil)
	m.nick.Importance = widget.LowImportance
	m.nick.Alignment = widget.ButtonAlignLeading
	m.nickEntry = widget.NewEntry()
	m.nickEntry.Hide()
	m.nick.OnTapped = func() {
		m.nickEntry.SetText(a.nameOf(a.me()))
		m.nick.Hide()
		m.nickEntry.Show()
		m.win.Canvas().Focus(m.nickEntry)
	}
	m.nickEntry.OnSubmitted = func(text string) {
		m.nickEntry.Hide()
		m.nick.Show()
		nick := strings.TrimSpace(text)
		if a.account == nil || nick == a.account.Nick {
			return
		}
		if nick != "" {
			m.nick.SetText(nick) // the Account event confirms it
		}
		a.setPresence(api.PresenceUpdate{Nick: &nick})
	}

	m.subnick = widget.NewEntry()
	m.subnick.SetPlaceHolder("Share a quick message")
	m.subnick.OnSubmitted = func(text string) {
		if a.account == nil || text == a.account.Subnick {
			return
		}
		m.win.Canvas().Unfocus()
		a.setPresence(api.PresenceUpdate{Subnick: &text})
	}

	m.status = widget.NewSelect(statusOptions(), func(label string) {
		if m.updating {
			return
		}
		if st, ok := statusFromLabel(label); ok && a.account != nil && st != a.account.Status {
			m.ownGlyph.Resource = glyph(st)
			m.ownGlyph.Refresh()
			a.setPresence(api.PresenceUpdate{Status: &st})
		}
	})

	m.search = widget.NewEntry()
	m.search.SetPlaceHolder("Search contacts...")
	m.search.OnChanged = func(string) { a.contactsChanged() }
	m.search.ActionItem = widget.NewIcon(theme.SearchIcon())

	m.addButton = widget.NewButtonWithIcon("", theme.ContentAddIcon(), a.showAddContact)

	m.requests = container.NewVBox()
	m.requests.Hide()

	m.list = widget.NewList(
		func() int { return len(m.rows) },
		func() fyne.CanvasObject { return newContactRow(a) },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(m.rows) {
				o.(*contactRow).set(m.rows[id])
			}
		},
	)

	m.signOutItem = fyne.NewMenuItem("Sign out", a.doSignOut)
	m.addItem = fyne.NewMenuItem("Add a contact...", a.showAddContact)
	m.optionsItem = fyne.NewMenuItem("Options...", a.showOptions)
	m.passwordItem = fyne.NewMenuItem("Change password...", a.showChangePassword)
	m.win.SetMainMenu(fyne.NewMainMenu(
		fyne.NewMenu("File", fyne.NewMenuItem("View history...", a.showHistory), m.passwordItem, m.signOutItem),
		fyne.NewMenu("Contacts", m.addItem),
		fyne.NewMenu("Tools", m.optionsItem),
	))

	nameLine := container.NewBorder(nil, nil, m.ownGlyph, m.status, container.NewStack(m.nick, m.nickEntry))
	header := container.NewBorder(nil, nil, m.avatar, nil, container.NewVBox(nameLine, m.subnick))
	searchLine := container.NewBorder(nil, nil, nil, m.addButton, m.search)
	top := container.NewVBox(header, widget.NewSeparator(), searchLine, m.requests)
	m.win.SetContent(container.NewBorder(container.NewPadded(top), nil, nil, nil, m.list))
	m.win.Resize(fyne.NewSize(340, 620))
	m.win.SetIcon(iconResource)
	// Closing the contact list quits, as there is no tray icon yet.
	m.win.SetCloseIntercept(a.fyne.Quit)
	return m
}

// setAccount shows our own presence.
func (m *mainWindow) setAccount(acc api.Account) {
	m.updating = true
	defer func() { m.updating = false }()
	name := acc.Nick
	if name == "" {
		name = acc.Username
	}
	m.nick.SetText(name)
	if m.win.Canvas().Focused() != m.subnick {
		m.subnick.SetText(acc.Subnick)
	}
	m.status.SetSelected(statusLabel(acc.Status))
	m.ownGlyph.Resource = glyph(acc.Status)
	m.ownGlyph.Refresh()
}

// setPresence sends a change of our presence to the node.
func (a *App) setPresence(u api.PresenceUpdate) {
	a.command(func(ctx context.Context) error {
		return a.api.SetPresence(ctx, u)
	}, func(err error) {
		if err != nil {
			a.showError(a.main.win, err)
			if a.account != nil {
				a.main.setAccount(*a.account) // back to what is true
			}
		}
	})
}

// showError tells the user in a dialog over win what went wrong.
func (a *App) showError(win fyne.Window, err error) {
	dialog.ShowInformation("EServer", errorText(err), win)
}

// contactsChanged rebuilds the groups and the requests from a.contacts.
func (a *App) contactsChanged() {
	m := a.main
	filter := strings.ToLower(strings.TrimSpace(m.search.Text))
	var online, offline, pending []api.Contact
	for _, c := range a.contacts {
		if c.Relation == api.RelationPendingIn {
			pending = append(pending, c)
			continue
		}
		if filter != "" && !strings.Contains(strings.ToLower(c.Username), filter) &&
			!strings.Contains(strings.ToLower(c.Nick), filter) {
			continue
		}
		if c.Online() {
			online = append(online, c)
		} else {
			offline = append(offline, c)
		}
	}
	sortContacts(online)
	sortContacts(offline)
	sortContacts(pending)

	m.rows = m.rows[:0]
	m.rows = append(m.rows, listRow{header: fmt.Sprintf("Online (%d)", len(online))})
	for _, c := range online {
		m.rows = append(m.rows, listRow{contact: c})
	}
	m.rows = append(m.rows, listRow{header: fmt.Sprintf("Offline (%d)", len(offline))})
	for _, c := range offline {
		m.rows = append(m.rows, listRow{contact: c})
	}
	m.list.Refresh()

	m.requests.RemoveAll()
	clear(m.requestRows)
	for _, c := range pending {
		r := a.newRequestRow(c)
		m.requestRows[c.Username] = r
		m.requests.Add(r.box)
	}
	if len(pending) == 0 {
		m.requests.Hide()
	} else {
		m.requests.Show()
	}
}

func (a *App) newRequestRow(c api.Contact) *requestRow {
	u := c.Username
	text := u + " wants to add you to their contact list."
	if c.RequestMessage != "" {
		text += "\n\u201c" + c.RequestMessage + "\u201d"
	}
	r := &requestRow{text: widget.NewLabel(text)}
	r.text.Wrapping = fyne.TextWrapWord
	answer := func(do func(context.Context, string) error) {
		r.accept.Disable()
		r.decline.Disable()
		r.block.Disable()
		a.command(func(ctx context.Context) error { return do(ctx, u) }, func(err error) {
			if err != nil {
				a.showError(a.main.win, err)
				r.accept.Enable()
				r.decline.Enable()
				r.block.Enable()
			}
			// On success the node's Contact event moves or removes the row.
		})
	}
	r.accept = widget.NewButtonWithIcon("Accept", theme.ConfirmIcon(), func() { answer(a.api.AcceptContact) })
	r.accept.Importance = widget.HighImportance
	r.decline = widget.NewButtonWithIcon("Decline", theme.CancelIcon(), func() { answer(a.api.DeclineContact) })
	r.block = widget.NewButton("Block", func() { answer(a.api.BlockContact) })
	r.block.Importance = widget.DangerImportance
	r.box = widget.NewCard("", "", container.NewVBox(
		r.text, container.NewHBox(r.accept, r.decline, r.block)))
	return r
}

// contactMenu is what a contact's secondary tap offers.
func (a *App) contactMenu(c api.Contact) *fyne.Menu {
	u := c.Username
	do := func(f func(context.Context, string) error) func() {
		return func() {
			a.command(func(ctx context.Context) error { return f(ctx, u) }, func(err error) {
				if err != nil {
					a.showError(a.main.win, err)
				}
			})
		}
	}
	var items []*fyne.MenuItem
	if c.Relation == api.RelationAccepted {
		items = append(items, fyne.NewMenuItem("Send an instant message", func() { a.openChat(u) }))
	}
	if c.Relation == api.RelationBlocked {
		items = append(items, fyne.NewMenuItem("Unblock contact", do(a.api.UnblockContact)))
	} else {
		items = append(items, fyne.NewMenuItem("Block contact", do(a.api.BlockContact)))
	}
	items = append(items, fyne.NewMenuItem("Delete contact", do(a.api.RemoveContact)))
	return fyne.NewMenu(displayName(c), items...)
}

// showAddContact opens the "Add a contact" dialog.
func (a *App) showAddContact() {
	m := a.main
	if m.addDialog == nil {
		d := &addContactDialog{
			username: widget.NewEntry(),
			message:  widget.NewEntry(),
			errText:  widget.NewLabel(""),
		}
		d.username.SetPlaceHolder("Their username")
		d.message.SetPlaceHolder("Hi, it's me! (optional)")
		d.errText.Importance = widget.DangerImportance
		d.errText.Wrapping = fyne.TextWrapWord
		d.username.OnSubmitted = func(string) { a.doAddContact() }
		d.message.OnSubmitted = func(string) { a.doAddContact() }
		d.add = widget.NewButton("Add contact", a.doAddContact)
		d.add.Importance = widget.HighImportance
		d.cancel = widget.NewButton("Cancel", func() { d.dlg.Hide() })
		form := widget.NewForm(
			widget.NewFormItem("Username", d.username),
			widget.NewFormItem("Message", d.message),
		)
		d.dlg = dialog.NewCustomWithoutButtons("Add a contact", container.NewVBox(form, d.errText), m.win)
		d.dlg.SetButtons([]fyne.CanvasObject{d.cancel, d.add})
		d.dlg.Resize(fyne.NewSize(340, 0))
		m.addDialog = d
	}
	d := m.addDialog
	d.username.SetText("")
	d.message.SetText("")
	d.errText.Hide()
	d.add.Enable()
	d.dlg.Show()
	m.win.Canvas().Focus(d.username)
}

func (a *App) doAddContact() {
	d := a.main.addDialog
	if d.add.Disabled() {
		return
	}
	u, msg := strings.TrimSpace(d.username.Text), strings.TrimSpace(d.message.Text)
	if u == "" {
		d.errText.SetText("Please type the username of the person to add.")
		d.errText.Show()
		return
	}
	if u == a.me() {
		d.errText.SetText("You cannot add yourself.")
		d.errText.Show()
		return
	}
	d.add.Disable()
	a.command(func(ctx context.Context) error {
		return a.api.AddContact(ctx, u, msg)
	}, func(err error) {
		d.add.Enable()
		if err != nil {
			d.errText.SetText(errorText(err))
			d.errText.Show()
			return
		}
		d.dlg.Hide()
	})
}

// doSignOut ends the session; the sign-in window comes back.
func (a *App) doSignOut() {
	a.command(func(ctx context.Context) error {
		return a.api.Logout(ctx)
	}, func(err error) {
		if err != nil {
			a.showError(a.main.win, err)
			return
		}
		a.signedOut()
	})
}

// contactRow shows one row of the contact list: a group header, or a
// contact's status glyph, nick and subnick. Tap opens the conversation;
// secondary tap offers the contact menu.
type contactRow struct {
	widget.BaseWidget
	app     *App
	row     listRow
	header  *widget.Label
	glyph   *canvas.Image
	nick    *widget.Label
	subnick *widget.Label
	content *fyne.Container
}

func newContactRow(a *App) *contactRow {
	r := &contactRow{
		app:     a,
		header:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		glyph:   canvas.NewImageFromResource(glyphOffline),
		nick:    widget.NewLabel(""),
		subnick: widget.NewLabel(""),
	}
	r.glyph.FillMode = canvas.ImageFillContain
	r.glyph.SetMinSize(fyne.NewSquareSize(14))
	r.subnick.Importance = widget.LowImportance
	r.subnick.Truncation = fyne.TextTruncateEllipsis
	r.ExtendBaseWidget(r)
	return r
}

func (r *contactRow) CreateRenderer() fyne.WidgetRenderer {
	contact := container.NewBorder(nil, nil, container.NewHBox(container.NewPadded(r.glyph), r.nick), nil, r.subnick)
	r.content = container.NewStack(r.header, contact)
	return widget.NewSimpleRenderer(r.content)
}

func (r *contactRow) set(row listRow) {
	r.row = row
	if row.header != "" {
		r.header.SetText(row.header)
		r.header.Show()
		r.glyph.Hide()
		r.nick.Hide()
		r.subnick.Hide()
		return
	}
	c := row.contact
	r.header.Hide()
	r.glyph.Resource = contactGlyph(c)
	r.glyph.Show()
	r.glyph.Refresh()
	name := displayName(c)
	switch c.Relation {
	case api.RelationPendingOut:
		name += " (pending)"
	case api.RelationBlocked:
		name += " (blocked)"
	}
	r.nick.SetText(name)
	r.nick.Show()
	r.subnick.SetText(c.Subnick)
	r.subnick.Show()
	if r.content != nil {
		r.content.Refresh() // lays out again for the new nick's width
	}
}

// Tapped opens the conversation with an accepted contact.
func (r *contactRow) Tapped(*fyne.PointEvent) {
	if r.row.header == "" && r.row.contact.Relation == api.RelationAccepted {
		r.app.openChat(r.row.contact.Username)
	}
}

// TappedSecondary shows the contact menu.
func (r *contactRow) TappedSecondary(ev *fyne.PointEvent) {
	if r.row.header != "" {
		return
	}
	c := fyne.CurrentApp().Driver().CanvasForObject(r)
	if c == nil {
		return
	}
	widget.ShowPopUpMenuAtPosition(r.app.contactMenu(r.row.contact), c, ev.AbsolutePosition)
}
