package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// roomHeader is the top of a room's window: its name, its topic, how its
// messages are protected (as a conversation shows its security) and how
// many are in it, with the buttons for the room's settings and leaving.
type roomHeader struct {
	box      *fyne.Container
	title    *widget.Label
	topic    *widget.Label
	lock     *widget.Icon
	security *widget.Label
	count    *widget.Label
	settings *widget.Button // owners and operators only
	invite   *widget.Button // owners and operators of an invite-only room
	leave    *widget.Button
}

func newRoomHeader(room string, onSettings, onInvite, onLeave func()) *roomHeader {
	h := &roomHeader{
		title:    widget.NewLabelWithStyle(roomTitle(room), fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		topic:    widget.NewLabel(""),
		lock:     widget.NewIcon(nil),
		security: widget.NewLabel(""),
		count:    widget.NewLabel(""),
		settings: widget.NewButtonWithIcon(lang.L("Room settings"), theme.SettingsIcon(), onSettings),
		invite:   widget.NewButtonWithIcon(lang.L("Invite..."), theme.ContentAddIcon(), onInvite),
		leave:    widget.NewButtonWithIcon(lang.L("Leave"), theme.LogoutIcon(), onLeave),
	}
	h.title.SizeName = theme.SizeNameSubHeadingText
	h.title.Truncation = fyne.TextTruncateEllipsis
	h.topic.Truncation = fyne.TextTruncateEllipsis
	h.security.Importance = widget.LowImportance
	h.security.Truncation = fyne.TextTruncateEllipsis
	h.count.Importance = widget.LowImportance
	h.settings.Importance = widget.LowImportance
	h.leave.Importance = widget.LowImportance
	h.invite.Importance = widget.LowImportance
	h.settings.Hide()
	h.invite.Hide()
	h.setTopic("")
	h.setEncrypted(false)
	badge := container.NewBorder(nil, nil, h.lock, h.count, h.security)
	buttons := container.NewHBox(h.invite, h.settings, h.leave)
	h.box = container.NewVBox(
		container.NewBorder(nil, nil, nil, buttons, h.title),
		h.topic,
		badge)
	return h
}

// setTopic shows the room's topic, or says it has none.
func (h *roomHeader) setTopic(topic string) {
	if topic == "" {
		h.topic.Importance = widget.LowImportance
		h.topic.SetText(lang.L("No topic"))
		return
	}
	h.topic.Importance = widget.MediumImportance
	h.topic.SetText(topic)
}

// setEncrypted says how the room's messages are protected: an invite-only
// room's end to end; a public room's signed only, so its servers read them.
func (h *roomHeader) setEncrypted(encrypted bool) {
	if encrypted {
		h.lock.SetResource(theme.NewSuccessThemedResource(theme.VisibilityOffIcon()))
		h.security.SetText(lang.L("Invite-only room: messages are end-to-end encrypted"))
		return
	}
	h.lock.SetResource(theme.NewWarningThemedResource(theme.VisibilityIcon()))
	h.security.SetText(lang.L("Public room: messages are signed, not encrypted"))
}

// setCount shows how many are in the room now.
func (h *roomHeader) setCount(n int) {
	if n <= 0 {
		h.count.SetText("")
		return
	}
	h.count.SetText(lang.N("{{.Count}} in the room", n, map[string]any{"Count": n}))
}
