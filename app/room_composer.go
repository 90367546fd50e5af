package app

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"
)

// roomComposer is where a message to the room is written: Enter sends,
// Shift+Enter starts a new line, as in a conversation. What we send comes
// back from the room as everyone's messages do, so it shows once the room
// took it; a refusal (muted, slow mode, banned) says why and gives the
// text back.
type roomComposer struct {
	box   fyne.CanvasObject
	entry *chatEntry
	send  *widget.Button
}

func newRoomComposer(r *roomWindow) *roomComposer {
	c := &roomComposer{}
	c.entry = newChatEntry(func() { c.submit(r) })
	c.entry.SetPlaceHolder(lang.L("Type a message to the room. Enter sends."))
	c.entry.SetMinRowsVisible(2)
	c.send = widget.NewButton(lang.L("Send"), func() { c.submit(r) })
	c.box = container.NewBorder(nil, nil, nil, container.NewVBox(layout.NewSpacer(), c.send), c.entry)
	return c
}

// submit sends what the entry holds to the room.
func (c *roomComposer) submit(r *roomWindow) {
	text := strings.TrimRight(c.entry.Text, "\r\n \t")
	if strings.TrimSpace(text) == "" {
		return
	}
	c.entry.SetText("")
	r.transcript.follow = true // what we send is shown, wherever we had scrolled
	room := r.name
	r.app.command(func(ctx context.Context) error {
		_, err := r.app.api.RoomSend(ctx, room, text)
		return err
	}, func(err error) {
		if err == nil {
			return
		}
		r.transcript.notice(lang.L("Your message was not sent: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
		if c.entry.Text == "" {
			c.entry.SetText(text)
		}
	})
}

// setAllowed enables writing, or disables it with the reason as the
// entry's placeholder: we are out of the room, or muted in a moderated one.
func (c *roomComposer) setAllowed(in, muted bool) {
	switch {
	case !in:
		c.entry.SetPlaceHolder(lang.L("You are no longer in this room."))
	case muted:
		c.entry.SetPlaceHolder(lang.L("This room is moderated: only members with a voice can write."))
	default:
		c.entry.SetPlaceHolder(lang.L("Type a message to the room. Enter sends."))
		c.entry.Enable()
		c.send.Enable()
		return
	}
	c.entry.Disable()
	c.send.Disable()
}
