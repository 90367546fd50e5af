package app

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
	"eserver/node/wire"
)

// createRoomDialog asks for a new room's name, topic and kind: public
// (listed in the directory, signed but not encrypted) or invite-only
// (end-to-end encrypted, entered only by those invited). Creating joins
// it and opens its window.
type createRoomDialog struct {
	dlg     *dialog.CustomDialog
	name    *widget.Entry
	topic   *widget.Entry
	kind    *widget.RadioGroup
	about   *widget.Label // what the chosen kind means
	errText *widget.Label
	ok      *widget.Button
}

// The kinds of room the dialog offers, as the radio group names them.
func roomKindPublic() string     { return lang.L("Public: listed in the directory") }
func roomKindInviteOnly() string { return lang.L("Invite-only: only people you invite") }

// showCreate opens the Create room dialog over the directory.
func (d *roomDirectory) showCreate() {
	c := &createRoomDialog{
		name:    widget.NewEntry(),
		topic:   widget.NewEntry(),
		about:   widget.NewLabel(""),
		errText: widget.NewLabel(""),
	}
	c.name.SetPlaceHolder(lang.L("beach-volleyball"))
	c.topic.SetPlaceHolder(lang.L("What the room is about (optional)"))
	c.kind = widget.NewRadioGroup([]string{roomKindPublic(), roomKindInviteOnly()}, func(string) { c.explain() })
	c.kind.SetSelected(roomKindPublic())
	c.about.Wrapping = fyne.TextWrapWord
	c.about.Importance = widget.LowImportance
	c.errText.Wrapping = fyne.TextWrapWord
	c.errText.Importance = widget.DangerImportance
	c.errText.Hide()
	c.explain()
	submit := func() { d.doCreate(c) }
	c.name.OnSubmitted = func(string) { submit() }
	c.topic.OnSubmitted = func(string) { submit() }
	c.ok = widget.NewButton(lang.L("Create"), submit)
	c.ok.Importance = widget.HighImportance
	form := widget.NewForm(
		widget.NewFormItem(lang.L("Name"), c.name),
		widget.NewFormItem(lang.L("Topic"), c.topic),
	)
	c.dlg = dialog.NewCustomWithoutButtons(lang.L("Create a chat room"), container.NewVBox(form, c.kind, c.about, c.errText), d.win)
	c.dlg.SetButtons([]fyne.CanvasObject{widget.NewButton(lang.L("Cancel"), c.dlg.Hide), c.ok})
	c.dlg.Resize(fyne.NewSize(createRoomWidth, 0))
	d.creating = c
	c.dlg.Show()
	d.win.Canvas().Focus(c.name)
}

// createRoomWidth is the Create room dialog's width.
const createRoomWidth = 420

// explain says what the chosen kind of room means for its messages.
func (c *createRoomDialog) explain() {
	if c.kind.Selected == roomKindInviteOnly() {
		c.about.SetText(lang.L("Not listed. Messages are end-to-end encrypted: only the members can read them."))
		return
	}
	c.about.SetText(lang.L("Anyone can find and join it. Messages are signed but not encrypted: the room's servers can read them."))
}

// doCreate creates the room the dialog describes, then joins it.
func (d *roomDirectory) doCreate(c *createRoomDialog) {
	if c.ok.Disabled() {
		return
	}
	name := strings.ToLower(strings.TrimSpace(c.name.Text))
	if err := wire.ValidRoomName(name); err != nil {
		c.fail(lang.L("A room's name is {{.Min}} to {{.Max}} lowercase letters, digits, dots, dashes or underscores, starting with a letter or a digit.",
			map[string]any{"Min": wire.MinRoomName, "Max": wire.MaxRoomName}))
		return
	}
	if wire.RoomRegion(name) != "" || strings.HasPrefix(name, wire.RegionalRoomPrefix) {
		c.fail(lang.L("Names starting with \u201c{{.Prefix}}\u201d are kept for the regional rooms.", map[string]any{"Prefix": wire.RegionalRoomPrefix}))
		return
	}
	topic := strings.TrimSpace(c.topic.Text)
	invite := c.kind.Selected == roomKindInviteOnly()
	spec := api.RoomSpec{Room: name, Topic: topic, Public: !invite, InviteOnly: invite}
	c.ok.Disable()
	c.errText.Hide()
	d.app.command(func(ctx context.Context) error {
		return d.app.api.CreateRoom(ctx, spec)
	}, func(err error) {
		c.ok.Enable()
		if err != nil {
			c.fail(createErrorText(err))
			return
		}
		c.dlg.Hide()
		d.joinRoom(name, "")
	})
}

// fail shows why the room was not created.
func (c *createRoomDialog) fail(text string) {
	c.errText.SetText(text)
	c.errText.Show()
}

// createErrorText says why a room could not be created.
func createErrorText(err error) string {
	switch api.Code(err) {
	case "room_exists":
		return lang.L("A room with that name already exists. Please choose another name.")
	case "rate_limited":
		return lang.L("You have created {{.Count}} rooms in the last hour. Please wait before creating another.",
			map[string]any{"Count": wire.RoomCreatesPerWindow})
	case "not_allowed":
		return lang.L("You already own {{.Count}} rooms. Delete one before creating another.", map[string]any{"Count": wire.MaxRoomsOwned})
	}
	return roomErrorText(err)
}
