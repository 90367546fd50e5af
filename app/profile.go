package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// profileView is a contact's profile: their picture and what they share
// (nick, personal message, music), then what we know of them — the name
// they have in our list, how they are reached and whether we verified
// their security code. It follows the contact while open.
type profileView struct {
	win      fyne.Window
	username string

	picture  *displayPicture
	nick     *widget.Label
	subnick  *widget.Label
	media    *widget.Label
	user     *widget.Label
	alias    *widget.Label
	group    *widget.Label
	glyph    *canvas.Image
	status   *widget.Label
	via      *widget.Label
	verified *widget.Label
	send     *widget.Button
	close    *widget.Button
}

// showProfile opens the profile of username.
func (a *App) showProfile(username string) {
	c, ok := a.contacts[username]
	if !ok {
		return
	}
	m := a.main
	if m.profile == nil {
		m.profile = a.newProfileView()
	}
	m.profile.set(c)
	m.profile.win.Show()
	m.profile.win.RequestFocus()
}

func (a *App) newProfileView() *profileView {
	p := &profileView{
		win:      a.fyne.NewWindow(a.title(lang.L("Profile"))),
		picture:  newDisplayPicture(96, nil),
		nick:     widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		subnick:  widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Italic: true}),
		media:    widget.NewLabel(""),
		user:     widget.NewLabel(""),
		alias:    widget.NewLabel(""),
		group:    widget.NewLabel(""),
		glyph:    canvas.NewImageFromResource(glyphOffline),
		status:   widget.NewLabel(""),
		via:      widget.NewLabel(""),
		verified: widget.NewLabel(""),
	}
	p.nick.SizeName = theme.SizeNameSubHeadingText
	p.nick.Wrapping = fyne.TextWrapWord
	p.subnick.Wrapping = fyne.TextWrapWord
	p.media.Wrapping = fyne.TextWrapWord
	p.via.Wrapping = fyne.TextWrapWord
	p.verified.Wrapping = fyne.TextWrapWord
	p.glyph.FillMode = canvas.ImageFillContain
	p.glyph.SetMinSize(fyne.NewSquareSize(14))

	p.send = widget.NewButtonWithIcon(lang.L("Send a message"), theme.MailComposeIcon(), func() { a.openChat(p.username) })
	p.send.Importance = widget.HighImportance
	p.close = widget.NewButton(lang.L("Close"), p.win.Close)

	shared := container.NewVBox(p.nick, p.subnick, p.media)
	top := container.NewBorder(nil, nil, container.NewVBox(p.picture), nil, shared)
	facts := widget.NewForm(
		widget.NewFormItem(lang.L("Username"), p.user),
		widget.NewFormItem(lang.L("In your list as"), p.alias),
		widget.NewFormItem(lang.L("Group"), p.group),
		widget.NewFormItem(lang.L("Status"), container.NewHBox(container.NewCenter(p.glyph), p.status)),
		widget.NewFormItem(lang.L("Connection"), p.via),
		widget.NewFormItem(lang.L("Security"), p.verified),
	)
	buttons := container.NewHBox(layout.NewSpacer(), p.send, p.close)
	p.win.SetContent(container.NewPadded(container.NewVBox(top, widget.NewSeparator(), facts, layout.NewSpacer(), buttons)))
	p.win.Resize(fyne.NewSize(400, 0))
	p.win.SetIcon(iconResource)
	// Closed, it stops following its contact; the next one opens afresh.
	p.win.SetOnClosed(func() {
		if a.main.profile == p {
			a.main.profile = nil
		}
	})
	return p
}

// set shows c.
func (p *profileView) set(c api.Contact) {
	p.username = c.Username
	p.win.SetTitle(lang.L("{{.Name}} — Profile", map[string]any{"Name": displayName(c)}))
	p.picture.setPicture(c.AvatarPath)
	p.picture.setStatus(contactStatus(c))
	nick := c.Nick
	if nick == "" {
		nick = c.Username
	}
	p.nick.SetText(nick)
	p.subnick.SetText(c.Subnick)
	if c.Subnick == "" {
		p.subnick.Hide()
	} else {
		p.subnick.Show()
	}
	p.media.SetText("\u266a " + c.Media)
	if c.Media == "" {
		p.media.Hide()
	} else {
		p.media.Show()
	}
	p.user.SetText(c.Username)
	p.alias.SetText(or(c.Alias, lang.L("(their own name)")))
	p.group.SetText(or(c.Group, lang.L("(none)")))
	p.glyph.Resource = contactGlyph(c)
	p.glyph.Refresh()
	p.status.SetText(relationStatus(c))
	p.via.SetText(or(viaLabel(c.Via), lang.L("not connected now")))
	if c.Verified {
		p.verified.SetText(lang.L("Verified: you compared security codes with this contact."))
		p.verified.Importance = widget.SuccessImportance
	} else {
		p.verified.SetText(lang.L("Not verified. Compare security codes from the lock in a conversation."))
		p.verified.Importance = widget.MediumImportance
	}
	p.verified.Refresh()
	if c.Relation == api.RelationAccepted {
		p.send.Enable()
	} else {
		p.send.Disable()
	}
}

// contactStatus is the status c shows us: offline unless accepted and online.
func contactStatus(c api.Contact) api.Status {
	if !c.Online() {
		return api.StatusOffline
	}
	return c.Status
}

// relationStatus names c's status, or where the relation stands when that
// is why no status shows.
func relationStatus(c api.Contact) string {
	switch c.Relation {
	case api.RelationPendingOut:
		return lang.L("Waiting for them to accept you")
	case api.RelationPendingIn:
		return lang.L("Asked to add you")
	case api.RelationBlocked:
		return lang.L("Blocked")
	}
	return statusLabel(contactStatus(c))
}

// or is s, or else when s is empty.
func or(s, orElse string) string {
	if s == "" {
		return orElse
	}
	return s
}
