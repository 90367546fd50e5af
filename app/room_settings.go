package app

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
	"eserver/node/wire"
)

// roomSettings is the room's settings dialog, for its owner and
// operators: the topic and the modes. Saving sends only what changed —
// the topic as a topic change, the rest as one modes change — so an
// operator's save never undoes what another changed meanwhile. The owner
// may delete the room here too.
type roomSettings struct {
	dlg         *dialog.CustomDialog
	was         api.RoomInfo // the state the dialog opened on
	topic       *widget.Entry
	public      *widget.Check
	inviteOnly  *widget.Check
	moderated   *widget.Check
	topicLocked *widget.Check
	password    *widget.Entry
	noPassword  *widget.Check // shown while the room has a password
	limit       *widget.Entry
	slow        *widget.Select
	minAge      *widget.Select
	errText     *widget.Label
	save        *widget.Button
	del         *widget.Button // the owner only
}

// roomSettingsWidth is the settings dialog's width; roomSettingsHeight
// the most its content takes before it scrolls.
const (
	roomSettingsWidth  = 460
	roomSettingsHeight = 320
)

// slowChoices and ageChoices are what the dialog offers for slow mode
// (seconds between a member's messages) and the new-account gate
// (minutes an account must have existed to write); 0 is off.
var (
	slowChoices = []int{0, 5, 10, 30, 60, 300}
	ageChoices  = []int{0, 10, 60, 24 * 60, 7 * 24 * 60}
)

// slowLabel and ageLabel name the choices.
func slowLabel(s int) string {
	if s == 0 {
		return lang.L("Off")
	}
	return durationText(time.Duration(s) * time.Second)
}

func ageLabel(m int) string {
	if m == 0 {
		return lang.L("Anyone")
	}
	return lang.L("Accounts older than {{.Age}}", map[string]any{"Age": durationText(time.Duration(m) * time.Minute)})
}

// durationText is a short length of time: "30 s", "5 min", "1 h", "7 d".
func durationText(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		n := int(d / (24 * time.Hour))
		return lang.N("{{.Count}} days", n, map[string]any{"Count": n})
	case d >= time.Hour && d%time.Hour == 0:
		n := int(d / time.Hour)
		return lang.N("{{.Count}} hours", n, map[string]any{"Count": n})
	case d >= time.Minute && d%time.Minute == 0:
		n := int(d / time.Minute)
		return lang.N("{{.Count}} minutes", n, map[string]any{"Count": n})
	}
	n := int(d / time.Second)
	return lang.N("{{.Count}} seconds", n, map[string]any{"Count": n})
}

// choices labels each value, adding v when the room has a value the
// dialog does not offer (set by another program), so it shows as it is.
func choices(values []int, v int, label func(int) string) ([]int, []string) {
	if !slices.Contains(values, v) {
		values = append(slices.Clone(values), v)
		slices.Sort(values)
	}
	labels := make([]string, len(values))
	for i, x := range values {
		labels[i] = label(x)
	}
	return values, labels
}

// showSettings opens the room's settings on its state as it stands.
func (r *roomWindow) showSettings() {
	info := r.info
	s := &roomSettings{
		was:         info,
		topic:       widget.NewEntry(),
		public:      widget.NewCheck(lang.L("Public"), nil),
		inviteOnly:  widget.NewCheck(lang.L("Invite-only"), nil),
		moderated:   widget.NewCheck(lang.L("Moderated"), nil),
		topicLocked: widget.NewCheck(lang.L("Lock the topic"), nil),
		password:    widget.NewPasswordEntry(),
		noPassword:  widget.NewCheck(lang.L("Remove the password"), nil),
		limit:       widget.NewEntry(),
		errText:     widget.NewLabel(""),
	}
	s.topic.SetText(info.Topic)
	s.public.SetChecked(info.Modes.Public)
	s.inviteOnly.SetChecked(info.Modes.InviteOnly)
	s.moderated.SetChecked(info.Modes.Moderated)
	s.topicLocked.SetChecked(info.Modes.TopicLocked)
	s.password.SetPlaceHolder(lang.L("None"))
	if info.Modes.HasPassword {
		s.password.SetPlaceHolder(lang.L("Unchanged"))
	} else {
		s.noPassword.Hide()
	}
	s.limit.SetPlaceHolder(lang.L("No limit"))
	if info.Modes.Limit > 0 {
		s.limit.SetText(strconv.Itoa(info.Modes.Limit))
	}
	slows, slowLabels := choices(slowChoices, info.Modes.SlowSeconds, slowLabel)
	s.slow = widget.NewSelect(slowLabels, nil)
	s.slow.SetSelectedIndex(slices.Index(slows, info.Modes.SlowSeconds))
	ages, ageLabels := choices(ageChoices, info.Modes.MinAccountMinutes, ageLabel)
	s.minAge = widget.NewSelect(ageLabels, nil)
	s.minAge.SetSelectedIndex(slices.Index(ages, info.Modes.MinAccountMinutes))
	s.errText.Importance = widget.DangerImportance
	s.errText.Wrapping = fyne.TextWrapWord
	s.errText.Hide()

	form := widget.NewForm(
		widget.NewFormItem(lang.L("Topic"), s.topic),
		widget.NewFormItem(lang.L("Password"), s.password),
		widget.NewFormItem(lang.L("Member limit"), s.limit),
		widget.NewFormItem(lang.L("Slow mode"), s.slow),
		widget.NewFormItem(lang.L("Who can write"), s.minAge),
	)
	s.save = widget.NewButton(lang.L("Save"), func() { r.saveSettings(s, slows, ages) })
	s.save.Importance = widget.HighImportance
	cancel := widget.NewButton(lang.L("Cancel"), func() { s.dlg.Hide() })
	s.del = widget.NewButtonWithIcon(lang.L("Delete room..."), theme.DeleteIcon(), func() { r.askDelete(s) })
	s.del.Importance = widget.DangerImportance
	if info.Role != api.RoomRoleOwner {
		s.del.Hide()
	}
	// Checks cannot wrap their words: short ones, and what they mean in
	// a paragraph that wraps.
	about := widget.NewLabel(lang.L("Public rooms are listed in the directory. Invite-only rooms let in only the people invited. In a moderated room only members with a voice write. A locked topic is changed by the owner and operators only."))
	about.Wrapping = fyne.TextWrapWord
	about.Importance = widget.LowImportance
	modes := container.NewGridWithColumns(2, s.public, s.inviteOnly, s.moderated, s.topicLocked)
	// Delete stands apart from the dialog's buttons (which share one
	// width): not beside Save, where a slip would cost the room.
	bans := widget.NewButtonWithIcon(lang.L("Bans ({{.Count}})...", map[string]any{"Count": len(info.Bans)}), theme.CancelIcon(),
		func() { r.showBans(info.Bans) })
	bans.Importance = widget.LowImportance
	if len(info.Bans) == 0 {
		bans.Disable()
	}
	content := container.NewVBox(form, s.noPassword, widget.NewSeparator(), modes, about, s.errText)
	// Scrolled past roomSettingsHeight, so the dialog stays inside the
	// room's window in every language, however many rows the room needs.
	scroll := container.NewVScroll(content)
	scroll.SetMinSize(fyne.NewSize(0, min(content.MinSize().Height, roomSettingsHeight)))
	s.dlg = dialog.NewCustomWithoutButtons(lang.L("Room settings"),
		container.NewBorder(nil, container.NewHBox(s.del, bans), nil, nil, scroll), r.win)
	s.dlg.SetButtons([]fyne.CanvasObject{cancel, s.save})
	s.dlg.Resize(fyne.NewSize(roomSettingsWidth, 0))
	r.settings = s
	s.dlg.Show()
}

// change is what the dialog changes, as a topic (nil: unchanged) and a
// modes change (only the fields that differ from the state it opened on),
// or the reason it cannot be saved.
func (s *roomSettings) change(slows, ages []int) (*string, api.RoomModesChange, string) {
	var m api.RoomModesChange
	was := s.was.Modes
	limit := 0
	if t := strings.TrimSpace(s.limit.Text); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > wire.MaxRoomMembers {
			return nil, m, lang.L("The member limit is a number up to {{.Max}}, or empty for none.", map[string]any{"Max": wire.MaxRoomMembers})
		}
		limit = n
	}
	if len(s.password.Text) > wire.MaxRoomPassword {
		return nil, m, lang.L("The password is too long.")
	}
	flag := func(c *widget.Check, was bool) *bool {
		if c.Checked == was {
			return nil
		}
		v := c.Checked
		return &v
	}
	number := func(v, was int) *int {
		if v == was {
			return nil
		}
		return &v
	}
	m.Public = flag(s.public, was.Public)
	m.InviteOnly = flag(s.inviteOnly, was.InviteOnly)
	m.Moderated = flag(s.moderated, was.Moderated)
	m.TopicLocked = flag(s.topicLocked, was.TopicLocked)
	m.Limit = number(limit, was.Limit)
	if i := s.slow.SelectedIndex(); i >= 0 {
		m.SlowSeconds = number(slows[i], was.SlowSeconds)
	}
	if i := s.minAge.SelectedIndex(); i >= 0 {
		m.MinAccountMinutes = number(ages[i], was.MinAccountMinutes)
	}
	switch {
	case s.password.Text != "":
		p := s.password.Text
		m.Password = &p
	case s.noPassword.Checked && was.HasPassword:
		none := ""
		m.Password = &none
	}
	var topic *string
	if t := strings.TrimSpace(s.topic.Text); t != s.was.Topic {
		if len(t) > wire.MaxRoomTopic {
			return nil, m, lang.L("The topic is too long.")
		}
		topic = &t
	}
	return topic, m, ""
}

// saveSettings sends what the dialog changed.
func (r *roomWindow) saveSettings(s *roomSettings, slows, ages []int) {
	topic, modes, problem := s.change(slows, ages)
	if problem != "" {
		s.errText.SetText(problem)
		s.errText.Show()
		return
	}
	s.save.Disable()
	room := r.name
	r.app.command(func(ctx context.Context) error {
		if topic != nil {
			if err := r.app.api.RoomSetTopic(ctx, room, *topic); err != nil {
				return err
			}
		}
		if modes != (api.RoomModesChange{}) {
			return r.app.api.RoomSetModes(ctx, room, modes)
		}
		return nil
	}, func(err error) {
		s.save.Enable()
		if err != nil {
			s.errText.SetText(roomErrorText(err))
			s.errText.Show()
			return
		}
		s.dlg.Hide()
		r.reload()
	})
}

// askDelete asks the owner before deleting the room for everyone.
func (r *roomWindow) askDelete(s *roomSettings) {
	q := widget.NewLabel(lang.L("Delete {{.Room}} for everyone? Its messages and settings are gone for good, and no one can join it again.",
		map[string]any{"Room": roomTitle(r.name)}))
	q.Wrapping = fyne.TextWrapWord
	askDialog(lang.L("Delete room"), q, r.win, lang.L("Delete"), func() {
		room := r.name
		r.app.command(func(ctx context.Context) error {
			return r.app.api.DeleteRoom(ctx, room)
		}, func(err error) {
			if err != nil {
				s.errText.SetText(roomErrorText(err))
				s.errText.Show()
				return
			}
			s.dlg.Hide()
			r.app.rememberRoom(room, false)
		})
	}).Show()
}

// showBans lists the bans in force, each with how long it lasts and a
// button that lifts it.
func (r *roomWindow) showBans(bans []api.RoomBanEntry) {
	list := container.NewVBox()
	for _, b := range bans {
		until := lang.L("until unbanned")
		if !b.Until.IsZero() {
			until = lang.L("until {{.When}}", map[string]any{"When": dateTimeText(b.Until)})
		}
		name := widget.NewLabel(r.app.nameOf(b.Username))
		name.Truncation = fyne.TextTruncateEllipsis
		when := widget.NewLabel(until)
		when.Importance = widget.LowImportance
		var unban *widget.Button
		unban = widget.NewButton(lang.L("Lift the ban"), func() {
			unban.Disable()
			u := b.Username
			r.moderate(func(ctx context.Context) error { return r.app.api.RoomUnban(ctx, r.name, u) })()
		})
		list.Add(container.NewBorder(nil, nil, nil, container.NewHBox(when, unban), name))
	}
	scroll := container.NewVScroll(list)
	scroll.SetMinSize(fyne.NewSize(0, min(float32(len(bans)), 6)*44))
	d := dialog.NewCustom(lang.L("Bans"), lang.L("Close"), scroll, r.win)
	d.Resize(fyne.NewSize(roomSettingsWidth, 0))
	d.Show()
}
