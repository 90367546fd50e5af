package app

import (
	"context"
	"fmt"
	"image/color"
	"sort"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// mainWindow is the contact list, laid out as Windows Live Messenger's:
// our own picture, name, status and personal message on top, a search box,
// then the contacts in their groups.
type mainWindow struct {
	win        fyne.Window
	avatar     *displayPicture // our own; tap opens the picker
	ownGlyph   *canvas.Image
	nick       *inlineEdit    // our nick; tap to edit
	status     *widget.Button // "Available ▾": opens statusMenu
	subnick    *inlineEdit    // "Share a quick message"
	media      *inlineEdit    // what I'm listening to
	mediaClear *widget.Button // clears media; shown only when set
	search     *keyEntry
	addButton  *widget.Button

	requests    *fyne.Container // pending incoming requests, hidden when none
	offline     *offlineNotice  // "3 messages arrived while you were away" (offline.go)
	history     *historyLine    // the history hand-over's progress (handover.go)
	requestRows map[string]*requestRow

	list      *widget.List
	rows      []listRow       // what list shows: section headers and contacts
	collapsed map[string]bool // by listRow.section
	// pictures is how rows show display pictures (contact_rows.go); rows
	// are as tall as a header, or taller for large pictures.
	pictures      pictureMode
	headerHeight  float32
	rowHeightsSet bool

	toasts *toastStack // notifications, where the desktop shows none (toast.go)

	signOutItem  *fyne.MenuItem
	addItem      *fyne.MenuItem
	optionsItem  *fyne.MenuItem
	passwordItem *fyne.MenuItem

	addDialog  *addContactDialog // nil until first opened
	textDialog *textDialog       // the last rename / new group dialog, for tests
	confirm    *confirmDialog    // the last delete confirmation, for tests
	picker     *avatarPicker     // nil until first opened
	profile    *profileView      // the open profile, nil when closed

	// updating is set while the window shows new state, so widget
	// callbacks do not send it back to the node as user changes.
	updating bool
}

// listRow is a section header ("Friends (2/5)", "Online (3)") or a contact.
type listRow struct {
	header    string
	section   string // the section's key in mainWindow.collapsed
	collapsed bool   // the header's section is folded away
	contact   api.Contact
}

// prefCollapsed keeps the folded sections (their keys) across runs, as
// MSN remembered folded groups.
const prefCollapsed = "contacts.collapsed"

// Section keys of the two sections that hold contacts without a group.
// Group sections are keyed by "group:" + name, so no group name can
// collide with them.
const (
	sectionOnline  = "online"
	sectionOffline = "offline"
)

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

// textDialog asks for one line of text (a name for a contact, a new group)
// and sends it to the node; it stays open with the error if that fails.
type textDialog struct {
	dlg     *dialog.CustomDialog
	entry   *widget.Entry
	ok      *widget.Button
	cancel  *widget.Button
	errText *widget.Label
}

// confirmDialog asks before something that cannot be undone.
type confirmDialog struct {
	dlg  *dialog.CustomDialog
	text *widget.Label
	yes  *widget.Button
	no   *widget.Button
}

func (a *App) newMainWindow() *mainWindow {
	m := &mainWindow{
		win:         a.fyne.NewWindow(a.title("EServer Messenger")), // not translated: the program's name
		requestRows: make(map[string]*requestRow),
		collapsed:   make(map[string]bool),
		pictures:    a.pictureMode(),
	}
	for _, key := range a.prefs.StringList(prefCollapsed) {
		m.collapsed[key] = true
	}

	m.avatar = newDisplayPicture(64, a.showAvatarPicker)
	m.ownGlyph = canvas.NewImageFromResource(glyphOffline)
	m.ownGlyph.FillMode = canvas.ImageFillContain
	m.ownGlyph.SetMinSize(fyne.NewSquareSize(14))

	m.nick = newInlineEdit(m.win, lang.L("Type your name"), func(nick string) {
		// An empty nick is refused rather than sent: contacts would see
		// a blank name. The username shows again instead.
		if a.account == nil || nick == "" || nick == a.account.Nick {
			m.nick.setText(a.nameOf(a.me()))
			return
		}
		a.setPresence(api.PresenceUpdate{Nick: &nick})
	})
	m.nick.label.TextStyle = fyne.TextStyle{Bold: true}
	m.nick.label.SizeName = theme.SizeNameSubHeadingText

	m.subnick = newInlineEdit(m.win, lang.L("Share a quick message"), func(text string) {
		if a.account == nil || text == a.account.Subnick {
			return
		}
		a.setPresence(api.PresenceUpdate{Subnick: &text})
	})
	m.subnick.label.TextStyle = fyne.TextStyle{Italic: true}

	m.media = newInlineEdit(m.win, lang.L("What are you listening to?"), func(text string) {
		a.setMedia(text)
	})
	m.media.prefix = "\u266a "
	m.mediaClear = widget.NewButtonWithIcon("", theme.ContentClearIcon(), func() { a.setMedia("") })
	m.mediaClear.Importance = widget.LowImportance
	m.mediaClear.Hide()

	// MSN showed "Nick (Status) ▾"; the glyph before the nick carries the colour.
	m.status = widget.NewButtonWithIcon("", theme.MenuDropDownIcon(), nil)
	m.status.Importance = widget.LowImportance
	m.status.IconPlacement = widget.ButtonIconTrailingText
	m.status.OnTapped = func() {
		widget.ShowPopUpMenuAtRelativePosition(a.statusMenu(), m.win.Canvas(),
			fyne.NewPos(0, m.status.Size().Height), m.status)
	}

	m.search = newKeyEntry()
	m.search.SetPlaceHolder(lang.L("Search contacts..."))
	m.search.OnChanged = func(string) { a.contactsChanged() }
	m.search.onEscape = func() { m.search.SetText("") }
	// Enter talks to the first match, so a contact is a few keys away.
	m.search.OnSubmitted = func(string) {
		for _, r := range m.rows {
			if r.header == "" && r.contact.Relation == api.RelationAccepted {
				a.openChat(r.contact.Username)
				return
			}
		}
	}
	m.search.ActionItem = widget.NewIcon(theme.SearchIcon())

	m.addButton = widget.NewButtonWithIcon("", theme.ContentAddIcon(), a.showAddContact)

	m.requests = container.NewVBox()
	m.requests.Hide()
	m.offline = a.newOfflineNotice()
	m.history = newHistoryLine()

	m.list = widget.NewList(
		func() int { return len(m.rows) },
		func() fyne.CanvasObject { return newContactRow(a) },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(m.rows) {
				o.(*contactRow).set(m.rows[id])
			}
		},
	)
	m.list.HideSeparators = true

	m.signOutItem = fyne.NewMenuItem(lang.L("Sign out"), a.doSignOut)
	m.addItem = fyne.NewMenuItem(lang.L("Add a contact..."), a.showAddContact)
	m.optionsItem = fyne.NewMenuItem(lang.L("Options..."), a.showOptions)
	m.passwordItem = fyne.NewMenuItem(lang.L("Change password..."), a.showChangePassword)
	m.win.SetMainMenu(fyne.NewMainMenu(
		fyne.NewMenu(lang.L("File"), fyne.NewMenuItem(lang.L("View history..."), a.showHistory), m.passwordItem, m.signOutItem),
		fyne.NewMenu(lang.L("Contacts"), m.addItem, fyne.NewMenuItemSeparator(), a.roomsMenuItem()),
		fyne.NewMenu(lang.L("Tools"), m.optionsItem),
		a.newHelpMenu().menu,
	))

	nameLine := container.NewBorder(nil, nil, container.NewCenter(m.ownGlyph), m.status, m.nick)
	mediaLine := container.NewBorder(nil, nil, nil, m.mediaClear, m.media)
	header := container.NewBorder(nil, nil, container.NewVBox(m.avatar), nil,
		container.New(layout.NewCustomPaddedVBoxLayout(0), nameLine, m.subnick, mediaLine))
	searchLine := container.NewBorder(nil, nil, nil, m.addButton, m.search)
	top := container.NewVBox(header, m.history.box, m.offline.box, searchLine, m.requests)
	m.toasts = newToastStack(a)
	m.win.SetContent(container.NewStack(container.NewBorder(container.NewPadded(top), nil, nil, nil, m.list), m.toasts.layer))
	m.win.Resize(fyne.NewSize(360, 620))
	m.win.SetIcon(iconResource)
	// Closing the contact list quits; where the desktop shows tray icons,
	// setupTray (tray.go) makes it hide to the tray instead.
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
	m.nick.setText(name)
	m.subnick.setText(acc.Subnick)
	m.media.setText(acc.Media)
	if acc.Media == "" {
		m.mediaClear.Hide()
	} else {
		m.mediaClear.Show()
	}
	m.showStatus(acc.Status)
	m.avatar.setPicture(acc.AvatarPath)
}

// closeWindows closes what the contact list opened, on signing out: the
// next account must not see the last one's profile or picture.
func (m *mainWindow) closeWindows() {
	if m.picker != nil {
		m.picker.win.Hide()
	}
	if m.profile != nil {
		m.profile.win.Close()
	}
	m.search.SetText("")
	m.toasts.clear()
	m.offline.hide()
	m.history.hide()
}

// showStatus shows st in the header: glyph, menu button and picture frame.
func (m *mainWindow) showStatus(st api.Status) {
	m.ownGlyph.Resource = glyph(st)
	m.ownGlyph.Refresh()
	m.status.SetText("(" + statusLabel(st) + ")")
	m.avatar.setStatus(st)
}

// statusMenu lists every status a user may choose, each with its glyph and
// the current one checked, then the other things about ourselves MSN's
// name menu offered.
func (a *App) statusMenu() *fyne.Menu {
	var items []*fyne.MenuItem
	for _, st := range api.Statuses {
		it := fyne.NewMenuItem(statusLabel(st), func() { a.setStatus(st) })
		it.Icon = glyph(st)
		it.Checked = a.account != nil && a.account.Status == st
		items = append(items, it)
	}
	picture := fyne.NewMenuItem(lang.L("Change display picture..."), a.showAvatarPicker)
	picture.Icon = theme.MediaPhotoIcon()
	name := fyne.NewMenuItem(lang.L("Change display name..."), func() { a.main.nick.edit() })
	name.Icon = theme.DocumentCreateIcon()
	signOut := fyne.NewMenuItem(lang.L("Sign out"), a.doSignOut)
	signOut.Icon = theme.LogoutIcon()
	items = append(items, fyne.NewMenuItemSeparator(), picture, name, fyne.NewMenuItemSeparator(), signOut)
	return fyne.NewMenu(lang.L("Status"), items...)
}

// setStatus changes our status; the header shows it at once and goes back
// if the node refuses.
func (a *App) setStatus(st api.Status) {
	if a.account == nil || st == a.account.Status {
		return
	}
	a.main.showStatus(st)
	a.setPresence(api.PresenceUpdate{Status: &st})
}

// setMedia sets or (with "") clears what we are listening to.
func (a *App) setMedia(text string) {
	if a.account == nil || text == a.account.Media {
		return
	}
	if text == "" {
		a.main.media.setText("")
		a.main.mediaClear.Hide()
	} else {
		a.main.mediaClear.Show()
	}
	a.setPresence(api.PresenceUpdate{Media: &text})
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

// matches reports whether c is found by the search text filter (lower
// case): any of the names we know it by, or its personal message.
func matches(c api.Contact, filter string) bool {
	if filter == "" {
		return true
	}
	for _, s := range []string{c.Username, c.Alias, c.Nick, c.Subnick} {
		if strings.Contains(strings.ToLower(s), filter) {
			return true
		}
	}
	return false
}

// groups are the names of the user's groups, sorted as the list shows them.
func (a *App) groups() []string {
	seen := map[string]bool{}
	var gs []string
	for _, c := range a.contacts {
		if c.Group != "" && c.Relation != api.RelationPendingIn && !seen[c.Group] {
			seen[c.Group] = true
			gs = append(gs, c.Group)
		}
	}
	sort.Slice(gs, func(i, j int) bool {
		a, b := strings.ToLower(gs[i]), strings.ToLower(gs[j])
		if a != b {
			return a < b
		}
		return gs[i] < gs[j]
	})
	return gs
}

// contactsChanged rebuilds the sections and the requests from a.contacts.
//
// Grouped contacts are listed under their group, online first, with the
// header counting "online/total" as MSN did; the others fall into "Online"
// and "Offline". A search keeps every header, with counts of what matches,
// and opens folded sections so no match is hidden.
func (a *App) contactsChanged() {
	m := a.main
	filter := strings.ToLower(strings.TrimSpace(m.search.Text))
	var online, offline, pending []api.Contact
	grouped := map[string][]api.Contact{}
	for _, c := range a.contacts {
		if c.Relation == api.RelationPendingIn {
			pending = append(pending, c)
			continue
		}
		if !matches(c, filter) {
			continue
		}
		switch {
		case c.Group != "":
			grouped[c.Group] = append(grouped[c.Group], c)
		case c.Online():
			online = append(online, c)
		default:
			offline = append(offline, c)
		}
	}
	sortContacts(online)
	sortContacts(offline)
	sortContacts(pending)

	m.rows = m.rows[:0]
	section := func(key, header string, cs []api.Contact) {
		folded := m.collapsed[key] && filter == ""
		m.rows = append(m.rows, listRow{header: header, section: key, collapsed: folded})
		if folded {
			return
		}
		for _, c := range cs {
			m.rows = append(m.rows, listRow{section: key, contact: c})
		}
	}
	for _, g := range a.groups() {
		cs := grouped[g]
		sortContacts(cs)
		// Online members first, each half by name.
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].Online() && !cs[j].Online() })
		n := 0
		for _, c := range cs {
			if c.Online() {
				n++
			}
		}
		section("group:"+g, fmt.Sprintf("%s (%d/%d)", g, n, len(cs)), cs)
	}
	section(sectionOnline, lang.L("Online ({{.Count}})", map[string]any{"Count": len(online)}), online)
	section(sectionOffline, lang.L("Offline ({{.Count}})", map[string]any{"Count": len(offline)}), offline)
	m.setRowHeights()
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

	if p := m.profile; p != nil {
		if c, ok := a.contacts[p.username]; ok {
			p.set(c)
		}
	}
}

// toggleSection folds or unfolds the section with key, and remembers it.
func (a *App) toggleSection(key string) {
	m := a.main
	if m.collapsed[key] {
		delete(m.collapsed, key)
	} else {
		m.collapsed[key] = true
	}
	keys := make([]string, 0, len(m.collapsed))
	for k := range m.collapsed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	a.prefs.SetStringList(prefCollapsed, keys)
	a.contactsChanged()
}

// groupHeaderMenu is what a group header's secondary tap offers: MSN let you
// rename a group or delete it (its contacts stay, without a group). A
// group exists only through its contacts, so both file them anew.
func (a *App) groupHeaderMenu(group string) *fyne.Menu {
	refile := func(ctx context.Context, to string) error {
		for _, c := range a.contacts {
			if c.Group == group && c.Relation != api.RelationPendingIn {
				if err := a.api.SetContactGroup(ctx, c.Username, to); err != nil {
					return err
				}
			}
		}
		return nil
	}
	rename := fyne.NewMenuItem(lang.L("Rename group..."), func() {
		a.askText(lang.L("Rename group"), lang.L("A new name for \u201c{{.Group}}\u201d.", map[string]any{"Group": group}),
			group, group, false, refile)
	})
	del := fyne.NewMenuItem(lang.L("Delete group"), func() {
		a.askConfirm(lang.L("Delete group"),
			lang.L("Delete the group \u201c{{.Group}}\u201d? Its contacts stay in your list, without a group.", map[string]any{"Group": group}),
			lang.L("Delete"), func() {
				a.command(func(ctx context.Context) error { return refile(ctx, "") }, func(err error) {
					if err != nil {
						a.showError(a.main.win, err)
					}
				})
			})
	})
	del.Icon = theme.DeleteIcon()
	return fyne.NewMenu(group, rename, del)
}

func (a *App) newRequestRow(c api.Contact) *requestRow {
	u := c.Username
	text := lang.L("{{.Username}} wants to add you to their contact list.", map[string]any{"Username": u})
	if c.RequestMessage != "" {
		text = lang.L("{{.Username}} wants to add you to their contact list.\n\u201c{{.Message}}\u201d",
			map[string]any{"Username": u, "Message": c.RequestMessage})
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
	r.accept = widget.NewButtonWithIcon(lang.L("Accept"), theme.ConfirmIcon(), func() { answer(a.api.AcceptContact) })
	r.accept.Importance = widget.HighImportance
	r.decline = widget.NewButtonWithIcon(lang.L("Decline"), theme.CancelIcon(), func() { answer(a.api.DeclineContact) })
	r.block = widget.NewButton(lang.L("Block"), func() { answer(a.api.BlockContact) })
	r.block.Importance = widget.DangerImportance
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameHover))
	bg.CornerRadius = theme.InputRadiusSize()
	r.box = container.NewStack(bg, container.NewPadded(container.NewVBox(
		r.text, container.NewHBox(r.accept, r.decline, layout.NewSpacer(), r.block))))
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
		send := fyne.NewMenuItem(lang.L("Send an instant message"), func() { a.openChat(u) })
		send.Icon = theme.MailComposeIcon()
		items = append(items, send)
	}
	profile := fyne.NewMenuItem(lang.L("View profile"), func() { a.showProfile(u) })
	profile.Icon = theme.AccountIcon()
	items = append(items, profile, fyne.NewMenuItemSeparator())

	// Every item has an icon: Fyne indents a label only past an icon, so
	// mixed items would not line up.
	rename := fyne.NewMenuItem(lang.L("Rename in list..."), func() { a.showRename(c) })
	rename.Icon = theme.DocumentCreateIcon()
	move := fyne.NewMenuItem(lang.L("Move to group"), nil)
	move.Icon = theme.FolderIcon()
	move.ChildMenu = a.groupMenu(c)
	items = append(items, rename, move, fyne.NewMenuItemSeparator())

	if c.Relation == api.RelationBlocked {
		unblock := fyne.NewMenuItem(lang.L("Unblock contact"), do(a.api.UnblockContact))
		unblock.Icon = glyphOffline
		items = append(items, unblock)
	} else {
		block := fyne.NewMenuItem(lang.L("Block contact"), do(a.api.BlockContact))
		block.Icon = glyphBlocked
		items = append(items, block)
	}
	del := fyne.NewMenuItem(lang.L("Delete contact"), func() {
		a.askConfirm(lang.L("Delete contact"),
			lang.L("Delete {{.Name}} ({{.Username}}) from your contact list?", map[string]any{"Name": displayName(c), "Username": u}),
			lang.L("Delete"), do(a.api.RemoveContact))
	})
	del.Icon = theme.DeleteIcon()
	items = append(items, del)
	return fyne.NewMenu(displayName(c), items...)
}

// groupMenu is the "Move to group" submenu for c: every existing group
// (its own checked), no group, or a new one.
func (a *App) groupMenu(c api.Contact) *fyne.Menu {
	moveTo := func(g string) func() {
		return func() {
			if g == c.Group {
				return
			}
			a.command(func(ctx context.Context) error {
				return a.api.SetContactGroup(ctx, c.Username, g)
			}, func(err error) {
				if err != nil {
					a.showError(a.main.win, err)
				}
			})
		}
	}
	var items []*fyne.MenuItem
	for _, g := range a.groups() {
		it := fyne.NewMenuItem(g, moveTo(g))
		it.Checked = g == c.Group
		items = append(items, it)
	}
	none := fyne.NewMenuItem(lang.L("No group"), moveTo(""))
	none.Checked = c.Group == ""
	items = append(items, none, fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem(lang.L("New group..."), func() { a.showNewGroup(c) }))
	return fyne.NewMenu(lang.L("Move to group"), items...)
}

// showRename asks for the name c has in our list only.
func (a *App) showRename(c api.Contact) {
	own := c.Nick
	if own == "" {
		own = c.Username
	}
	a.askText(lang.L("Rename {{.Username}}", map[string]any{"Username": c.Username}),
		lang.L("Leave empty to show their own name, \u201c{{.Name}}\u201d.", map[string]any{"Name": own}),
		c.Alias, own, true, func(ctx context.Context, alias string) error {
			return a.api.RenameContact(ctx, c.Username, alias)
		})
}

// showNewGroup asks for a new group's name and files c under it.
func (a *App) showNewGroup(c api.Contact) {
	a.askText(lang.L("New group"), lang.L("Name the group to move {{.Name}} into.", map[string]any{"Name": displayName(c)}),
		"", lang.L("Friends, Family, Work..."), false, func(ctx context.Context, g string) error {
			return a.api.SetContactGroup(ctx, c.Username, g)
		})
}

// askText shows a textDialog over the contact list. save gets the trimmed
// text; empty text is refused unless allowEmpty.
func (a *App) askText(title, hint, text, placeholder string, allowEmpty bool, save func(context.Context, string) error) {
	m := a.main
	d := &textDialog{entry: widget.NewEntry(), errText: widget.NewLabel("")}
	d.entry.SetText(text)
	d.entry.SetPlaceHolder(placeholder)
	d.errText.Importance = widget.DangerImportance
	d.errText.Wrapping = fyne.TextWrapWord
	d.errText.Hide()
	submit := func() {
		if d.ok.Disabled() {
			return
		}
		v := strings.TrimSpace(d.entry.Text)
		if v == "" && !allowEmpty {
			d.errText.SetText(lang.L("Please type a name."))
			d.errText.Show()
			return
		}
		d.ok.Disable()
		a.command(func(ctx context.Context) error { return save(ctx, v) }, func(err error) {
			d.ok.Enable()
			if err != nil {
				d.errText.SetText(errorText(err))
				d.errText.Show()
				return
			}
			d.dlg.Hide()
		})
	}
	d.entry.OnSubmitted = func(string) { submit() }
	d.ok = widget.NewButton(lang.L("OK"), submit)
	d.ok.Importance = widget.HighImportance
	d.cancel = widget.NewButton(lang.L("Cancel"), func() { d.dlg.Hide() })
	label := widget.NewLabel(hint)
	label.Wrapping = fyne.TextWrapWord
	d.dlg = dialog.NewCustomWithoutButtons(title, container.NewVBox(label, d.entry, d.errText), m.win)
	d.dlg.SetButtons([]fyne.CanvasObject{d.cancel, d.ok})
	d.dlg.Resize(fyne.NewSize(320, 0))
	m.textDialog = d
	d.dlg.Show()
	m.win.Canvas().Focus(d.entry)
}

// askConfirm asks whether to do something that cannot be undone.
func (a *App) askConfirm(title, question, verb string, do func()) {
	m := a.main
	d := &confirmDialog{text: widget.NewLabel(question)}
	d.text.Wrapping = fyne.TextWrapWord
	d.no = widget.NewButton(lang.L("Cancel"), func() { d.dlg.Hide() })
	d.yes = widget.NewButton(verb, func() {
		d.dlg.Hide()
		do()
	})
	d.yes.Importance = widget.DangerImportance
	d.dlg = dialog.NewCustomWithoutButtons(title, d.text, m.win)
	d.dlg.SetButtons([]fyne.CanvasObject{d.no, d.yes})
	d.dlg.Resize(fyne.NewSize(320, 0))
	m.confirm = d
	d.dlg.Show()
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
		d.username.SetPlaceHolder(lang.L("Their username"))
		d.message.SetPlaceHolder(lang.L("Hi, it's me! (optional)"))
		d.errText.Importance = widget.DangerImportance
		d.errText.Wrapping = fyne.TextWrapWord
		d.username.OnSubmitted = func(string) { a.doAddContact() }
		d.message.OnSubmitted = func(string) { a.doAddContact() }
		d.add = widget.NewButton(lang.L("Add contact"), a.doAddContact)
		d.add.Importance = widget.HighImportance
		d.cancel = widget.NewButton(lang.L("Cancel"), func() { d.dlg.Hide() })
		form := widget.NewForm(
			widget.NewFormItem(lang.L("Username"), d.username),
			widget.NewFormItem(lang.L("Message"), d.message),
		)
		d.dlg = dialog.NewCustomWithoutButtons(lang.L("Add a contact"), container.NewVBox(form, d.errText), m.win)
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
	u, msg := foldUsername(d.username.Text), strings.TrimSpace(d.message.Text)
	if u == "" {
		d.errText.SetText(lang.L("Please type the username of the person to add."))
		d.errText.Show()
		return
	}
	if p := usernameProblem(u); p != "" {
		d.errText.SetText(lang.L("No one has that username. {{.Problem}}", map[string]any{"Problem": p}))
		d.errText.Show()
		return
	}
	if u == a.me() {
		d.errText.SetText(lang.L("You cannot add yourself."))
		d.errText.Show()
		return
	}
	d.add.Disable()
	a.command(func(ctx context.Context) error {
		return a.api.AddContact(ctx, u, msg)
	}, func(err error) {
		d.add.Enable()
		if err != nil {
			text := errorText(err)
			if api.Code(err) == "no_such_user" {
				text = lang.L("No one is called \u201c{{.Username}}\u201d. Check the spelling with them: usernames look like alice.smith.",
					map[string]any{"Username": u})
			}
			d.errText.SetText(text)
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
		a.forgetAutoSignIn() // signing out means "ask me next time"
		a.signedOut()
	})
}

// contactRow shows one row of the contact list: a section header with its
// fold arrow, or a contact's status glyph, display picture, name, status
// in words and — in grey — what they are listening to or their personal
// message, with emoticons as pictures. Tap opens the conversation (or
// folds a section); secondary tap offers the contact menu.
type contactRow struct {
	widget.BaseWidget
	app    *App
	row    listRow
	arrow  *widget.Icon
	title  *widget.Label // the header's text
	glyph  *canvas.Image
	pic    *rowPicture
	text   *emoticonLine // name (status), then " - personal message" unless on second
	second *emoticonLine // the personal message under the name, with large pictures
	head   *fyne.Container
	body   *fyne.Container
}

func newContactRow(a *App) *contactRow {
	r := &contactRow{
		app:    a,
		arrow:  widget.NewIcon(theme.MenuDropDownIcon()),
		title:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		glyph:  canvas.NewImageFromResource(glyphOffline),
		pic:    newRowPicture(),
		text:   newEmoticonLine(),
		second: newEmoticonLine(),
	}
	r.glyph.FillMode = canvas.ImageFillContain
	r.glyph.SetMinSize(fyne.NewSquareSize(14))
	r.text.Truncation = fyne.TextTruncateEllipsis
	r.second.Truncation = fyne.TextTruncateEllipsis
	r.title.Truncation = fyne.TextTruncateEllipsis
	// Contacts sit indented under their header, as in MSN.
	r.head = container.New(rowLayout{icon: 16, gap: 2}, r.arrow, r.title)
	r.body = container.New(contactLayout{indent: 14, icon: 14, gap: 6}, r.glyph, r.pic, r.text, r.second)
	r.ExtendBaseWidget(r)
	return r
}

func (r *contactRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewStack(r.head, r.body))
}

func (r *contactRow) set(row listRow) {
	r.row = row
	if row.header != "" {
		r.title.SetText(row.header)
		if row.collapsed {
			r.arrow.SetResource(theme.MenuExpandIcon())
		} else {
			r.arrow.SetResource(theme.MenuDropDownIcon())
		}
		r.head.Show()
		r.body.Hide()
		r.head.Refresh() // lays out what was hidden when last laid out
		return
	}
	c := row.contact
	r.head.Hide()
	r.body.Show()
	defer r.body.Refresh() // lays out for the new text
	r.glyph.Resource = contactGlyph(c)
	r.glyph.Refresh()
	mode := r.app.main.pictures
	r.body.Layout = contactLayout{indent: 14, icon: 14, gap: 6, mode: mode}
	if mode == picturesNone {
		r.pic.Hide()
	} else {
		r.pic.set(c.AvatarPath, contactStatus(c))
		r.pic.Show()
	}
	name := displayName(c)
	var style fyne.TextStyle
	if c.Unread > 0 {
		// Waiting messages make the name bold with their count, as MSN
		// showed a conversation waiting: "Bob (3)".
		name += " (" + strconv.Itoa(c.Unread) + ")"
		style.Bold = true
	}
	if st := rowStatus(c, row.section); st != "" {
		name += " (" + st + ")"
	}
	// Offline contacts are greyed, as in MSN; the personal message is
	// always grey so the names stand out.
	nameColour := theme.ColorNameForeground
	if !c.Online() {
		nameColour = theme.ColorNamePlaceHolder
	}
	segs := []lineSegment{{Text: name, ColorName: nameColour, Style: style}}
	more := lineSegment{Text: aside(c), ColorName: theme.ColorNamePlaceHolder, Style: fyne.TextStyle{Italic: c.Media != ""}}
	if mode == picturesLarge {
		r.second.SetSegments(more)
		r.second.Show()
	} else {
		r.second.Hide()
		if more.Text != "" {
			more.Text = " - " + more.Text
			segs = append(segs, more)
		}
	}
	r.text.SetSegments(segs...)
}

// aside is the grey text after a contact's name: what they are listening
// to when they share it, as MSN preferred it, else their personal message.
func aside(c api.Contact) string {
	if c.Media != "" {
		return "\u266a " + c.Media
	}
	return c.Subnick
}

// Tapped opens the conversation with an accepted contact, or folds a section.
func (r *contactRow) Tapped(*fyne.PointEvent) {
	if r.row.header != "" {
		r.app.toggleSection(r.row.section)
		return
	}
	if r.row.contact.Relation == api.RelationAccepted {
		r.app.openChat(r.row.contact.Username)
	}
}

// TappedSecondary shows the contact menu, or a group's.
func (r *contactRow) TappedSecondary(ev *fyne.PointEvent) {
	c := fyne.CurrentApp().Driver().CanvasForObject(r)
	if c == nil {
		return
	}
	var menu *fyne.Menu
	switch {
	case r.row.header == "":
		menu = r.app.contactMenu(r.row.contact)
	case strings.HasPrefix(r.row.section, "group:"):
		menu = r.app.groupHeaderMenu(strings.TrimPrefix(r.row.section, "group:"))
	default:
		return // Online and Offline are not the user's to rename
	}
	widget.ShowPopUpMenuAtPosition(menu, c, ev.AbsolutePosition)
}

// Contact rows are as tight as MSN's, which fitted many contacts in a small
// window: rowInnerPadding around a row's text and rowSpacing between rows,
// where the theme gives a label InnerPadding and the list Padding.
const (
	rowInnerPadding = 4
	rowSpacing      = 1
)

// rowInsets are how far a row's text widget reaches beyond the row, so that
// its own padding (the theme's) falls outside it: dx on either side, above
// by its inner padding less the row's, below by that and the list's spacing
// less the row's. A theme override with the smaller sizes would look the
// same, but Fyne caches font faces per theme scope, so the list held a
// second copy of every font it shows (~4 MiB of heap each, issue 21).
func rowInsets() (dx, above, below float32) {
	d := max(0, theme.Size(theme.SizeNameInnerPadding)-rowInnerPadding)
	return d, d, d + max(0, theme.Size(theme.SizeNamePadding)-rowSpacing)
}

// rowLayout places an icon (the first object) at indent and the text (the
// second) after it, filling the rest, reaching beyond the row by
// rowInsets; the icon is centred on the text. Its sizes are fixed so that
// rows line up whichever theme laid them out.
type rowLayout struct{ indent, icon, gap float32 }

func (l rowLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	dx, above, below := rowInsets()
	textH := size.Height + above + below
	objs[0].Resize(fyne.NewSquareSize(l.icon))
	objs[0].Move(fyne.NewPos(l.indent, (textH-l.icon)/2-above))
	x := l.indent + l.icon + l.gap
	objs[1].Resize(fyne.NewSize(max(0, size.Width-x+2*dx), textH))
	objs[1].Move(fyne.NewPos(x-dx, -above))
}

func (l rowLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	dx, above, below := rowInsets()
	text := objs[1].MinSize()
	return fyne.NewSize(l.indent+l.icon+l.gap+max(0, text.Width-2*dx), max(l.icon, text.Height-above-below))
}

// keyEntry is a one-line entry that also reports Escape and losing focus,
// which Fyne's entry keeps to itself.
type keyEntry struct {
	widget.Entry
	onEscape    func()
	onFocusLost func()
}

func newKeyEntry() *keyEntry {
	e := &keyEntry{}
	e.ExtendBaseWidget(e)
	return e
}

// TypedKey reports Escape and leaves every other key to the entry.
func (e *keyEntry) TypedKey(k *fyne.KeyEvent) {
	if k.Name == fyne.KeyEscape && e.onEscape != nil {
		e.onEscape()
		return
	}
	e.Entry.TypedKey(k)
}

// FocusLost reports the loss after the entry has handled it.
func (e *keyEntry) FocusLost() {
	e.Entry.FocusLost()
	if e.onFocusLost != nil {
		e.onFocusLost()
	}
}

// inlineEdit shows a line of our own presence as text; a click turns it
// into an entry, as MSN's header did. Enter or clicking elsewhere saves,
// Escape gives up.
type inlineEdit struct {
	widget.BaseWidget
	label       *tapLabel
	entry       *keyEntry
	frame       *canvas.Rectangle // hints, on hover, that the text is editable
	placeholder string
	prefix      string // shown before the text and placeholder, not edited
	text        string // what is saved
	editing     bool
	onSave      func(string)
	// win is the window the edit lives in. Its canvas is where the entry
	// takes the keyboard: asking the driver for the canvas of the entry,
	// which has never been drawn when the first click shows it, finds none
	// on the desktop, and the first keys typed went nowhere.
	win fyne.Window
}

func newInlineEdit(win fyne.Window, placeholder string, onSave func(string)) *inlineEdit {
	e := &inlineEdit{win: win, placeholder: placeholder, onSave: onSave, entry: newKeyEntry()}
	e.label = newTapLabel(e.edit)
	e.label.onHover = func(in bool) {
		if in {
			e.frame.Show()
		} else {
			e.frame.Hide()
		}
	}
	e.frame = canvas.NewRectangle(color.Transparent)
	e.frame.StrokeColor = theme.Color(theme.ColorNameInputBorder)
	e.frame.StrokeWidth = 1
	e.frame.CornerRadius = theme.InputRadiusSize()
	e.frame.Hide()
	e.entry.SetPlaceHolder(placeholder)
	e.entry.OnSubmitted = func(string) { e.finish(true) }
	e.entry.onEscape = func() { e.finish(false) }
	e.entry.onFocusLost = func() { e.finish(true) }
	e.entry.Hide()
	e.ExtendBaseWidget(e)
	e.show()
	return e
}

func (e *inlineEdit) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewStack(e.frame, e.label, e.entry))
}

// setText shows text as saved. An edit in progress is left alone: the
// user's typing wins until they finish.
func (e *inlineEdit) setText(text string) {
	e.text = text
	if !e.editing {
		e.show()
	}
}

// show puts the saved text, or the placeholder in grey, in the label.
func (e *inlineEdit) show() {
	if e.text == "" {
		e.label.Importance = widget.LowImportance
		e.label.SetText(e.prefix + e.placeholder)
	} else {
		e.label.Importance = widget.MediumImportance
		e.label.SetText(e.prefix + e.text)
	}
}

// edit swaps the label for the entry, focused, with the text selected
// the way MSN did so typing replaces it.
func (e *inlineEdit) edit() {
	if e.editing {
		return
	}
	e.editing = true
	e.entry.SetText(e.text)
	e.frame.Hide()
	e.label.Hide()
	e.entry.Show()
	e.win.Canvas().Focus(e.entry)
	e.entry.TypedShortcut(&fyne.ShortcutSelectAll{})
}

// finish ends an edit, saving the trimmed text when save is set and it
// changed.
func (e *inlineEdit) finish(save bool) {
	if !e.editing {
		return
	}
	e.editing = false // first: unfocusing below calls finish again
	e.entry.Hide()
	e.label.Show()
	if c := e.win.Canvas(); c.Focused() == e.entry {
		c.Unfocus()
	}
	text := strings.TrimSpace(e.entry.Text)
	if !save || text == e.text {
		e.show()
		return
	}
	e.text = text // shown at once; the node's Account event confirms it
	e.show()
	e.onSave(text)
}

// tapLabel is a label that can be clicked, with a text cursor and hover
// reports, for inlineEdit. Emoticons in it show as pictures.
type tapLabel struct {
	emoticonLabel
	onTap   func()
	onHover func(in bool)
}

func newTapLabel(onTap func()) *tapLabel {
	l := &tapLabel{onTap: onTap}
	l.Truncation = fyne.TextTruncateEllipsis
	l.ExtendBaseWidget(l)
	l.Refresh()
	return l
}

// Tapped starts editing.
func (l *tapLabel) Tapped(*fyne.PointEvent) { l.onTap() }

// Cursor says the text can be edited.
func (l *tapLabel) Cursor() desktop.Cursor { return desktop.TextCursor }

// MouseIn reports the hover.
func (l *tapLabel) MouseIn(*desktop.MouseEvent) { l.hover(true) }

// MouseMoved is needed for desktop.Hoverable.
func (l *tapLabel) MouseMoved(*desktop.MouseEvent) {}

// MouseOut reports the end of the hover.
func (l *tapLabel) MouseOut() { l.hover(false) }

func (l *tapLabel) hover(in bool) {
	if l.onHover != nil {
		l.onHover(in)
	}
}
