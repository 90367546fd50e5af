package app

import (
	"context"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// roomWindow is a chat room we joined. It wires its parts together and
// routes the room's events to them; each part keeps its own widgets.
type roomWindow struct {
	app        *App
	name       string
	win        fyne.Window
	header     *roomHeader
	transcript *roomTranscript
	composer   *roomComposer
	members    *roomMembers
	settings   *roomSettings // the last settings dialog, for tests
	info       api.RoomInfo  // the room's state as the node verified it
	shown      bool          // the window is on screen
	out        bool          // we were kicked or banned, or the room was deleted
}

func (a *App) newRoomWindow(room string) *roomWindow {
	r := &roomWindow{app: a, name: room, win: a.fyne.NewWindow(a.title(roomWindowTitle(room)))}
	r.header = newRoomHeader(room, r.showSettings, r.askInvite, func() { a.leaveRoom(room) })
	r.transcript = newRoomTranscript(a, r.win)
	r.transcript.menu = r.messageMenu
	r.composer = newRoomComposer(r)
	r.members = newRoomMembers(r)
	split := container.NewVSplit(r.transcript.view(), r.composer.box)
	split.Offset = 0.82
	side := container.NewHBox(widget.NewSeparator(), r.members.box)
	r.win.SetContent(container.NewBorder(container.NewVBox(r.header.box, widget.NewSeparator()), nil, nil, side, split))
	r.win.Resize(fyne.NewSize(roomWindowWidth, roomWindowHeight))
	r.win.SetIcon(iconResource)
	// Closing a room's window leaves the room, as leaving a channel did.
	r.win.SetCloseIntercept(func() { a.leaveRoom(room) })
	// Typing anywhere in the window writes the message.
	r.win.Canvas().SetOnTypedRune(func(ch rune) {
		r.win.Canvas().Focus(r.composer.entry)
		r.composer.entry.TypedRune(ch)
	})
	return r
}

// The size a room's window opens at.
const (
	roomWindowWidth  = 720
	roomWindowHeight = 520
)

// roomWindowTitle is a room window's title: "beach - Chat room".
func roomWindowTitle(room string) string {
	return lang.L("{{.Room}} - Chat room", map[string]any{"Room": roomTitle(room)})
}

// show puts the window on screen; focus puts the cursor in the entry.
func (r *roomWindow) show(focus bool) {
	if !r.shown {
		r.shown = true
		r.win.Show()
	}
	if focus {
		r.win.RequestFocus()
		r.win.Canvas().Focus(r.composer.entry)
	}
}

// joined shows the room as JoinRoom found it and loads its backlog: the
// node shows it as events too, but a window opened again after the first
// join would not get them again.
func (r *roomWindow) joined(info api.Room) {
	r.out = false
	r.composer.setAllowed(true, false)
	r.header.setTopic(info.Topic)
	r.header.setCount(info.Members)
	r.loadHistory()
	r.reload()
}

// reload asks the node for the room's state and members and shows them:
// after joining, and after every change of who is in it or may do what.
func (r *roomWindow) reload() {
	var info api.RoomInfo
	var members []api.RoomMember
	r.app.command(func(ctx context.Context) error {
		var err error
		if info, err = r.app.api.RoomInfo(ctx, r.name); err != nil {
			return err
		}
		members, err = r.app.api.RoomMembers(ctx, r.name)
		return err
	}, func(err error) {
		if err != nil {
			if !r.out {
				r.transcript.notice(lang.L("The room's members could not be loaded: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
			}
			return
		}
		r.setInfo(info)
		r.members.set(members)
		online := 0
		for _, m := range members {
			if m.Status != api.StatusOffline {
				online++
			}
		}
		r.header.setCount(online)
	})
}

// setInfo shows the room's state: topic, protection, what our role lets
// us change, and whether we may write.
func (r *roomWindow) setInfo(info api.RoomInfo) {
	r.info = info
	r.header.setTopic(info.Topic)
	r.header.setEncrypted(info.Encrypted)
	moderator := info.Role == api.RoomRoleOwner || info.Role == api.RoomRoleOp
	showIf(r.header.settings, moderator)
	showIf(r.header.invite, moderator && info.Modes.InviteOnly)
	r.header.box.Refresh() // lays the title's row out for the buttons shown
	muted := info.Modes.Moderated && info.Role == api.RoomRoleMember
	r.composer.setAllowed(!r.out, muted)
}

// loadHistory shows the room's last messages at its home.
func (r *roomWindow) loadHistory() {
	var backlog []api.RoomMessage
	r.app.command(func(ctx context.Context) error {
		var err error
		backlog, err = r.app.api.RoomHistory(ctx, r.name, api.MaxRoomHistory)
		return err
	}, func(err error) {
		if err != nil {
			r.transcript.notice(lang.L("The room's recent messages could not be loaded: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
			return
		}
		r.transcript.addHistory(backlog)
	})
}

// event shows a change in the room: a line everyone sees; the member
// list and the room's state are read again when it changed them.
func (r *roomWindow) event(e api.RoomEvent) {
	text, imp := r.eventLine(e)
	if text != "" {
		r.transcript.line(text, imp)
	}
	switch e.Kind {
	case api.RoomTopic:
		r.header.setTopic(e.Topic)
	case api.RoomMessageDeleted:
		r.transcript.deleted(e.ID)
	case api.RoomReported:
	case api.RoomPicture: // a stranger's picture arrived
		r.transcript.setPicture(e.Username, e.AvatarPath)
		r.members.setPicture(e.Username, e.AvatarPath)
	default:
		if !r.out {
			r.reload()
		}
	}
}

// eventLine is the line an event shows, in words; "" for none.
func (r *roomWindow) eventLine(e api.RoomEvent) (string, widget.Importance) {
	me := r.app.me()
	data := map[string]any{"Name": r.app.nameOf(e.Username), "By": r.app.nameOf(e.By)} // not translated: template fields
	switch e.Kind {
	case api.RoomJoin:
		if e.Username == me {
			return "", 0 // our own joining is the window opening
		}
		return lang.L("{{.Name}} joined the room.", data), widget.LowImportance
	case api.RoomLeave:
		return lang.L("{{.Name}} left the room.", data), widget.LowImportance
	case api.RoomKick:
		if e.Username == me {
			r.shut()
			return lang.L("{{.By}} kicked you out of the room. You can join it again.", data), widget.WarningImportance
		}
		return lang.L("{{.Name}} was kicked out by {{.By}}.", data), widget.WarningImportance
	case api.RoomBan:
		if e.Username == me {
			r.shut()
			if !e.Until.IsZero() {
				data["Until"] = dateTimeText(e.Until) // not translated: a template field
				return lang.L("{{.By}} banned you from the room until {{.Until}}.", data), widget.WarningImportance
			}
			return lang.L("{{.By}} banned you from the room.", data), widget.WarningImportance
		}
		if !e.Until.IsZero() {
			data["Until"] = dateTimeText(e.Until) // not translated: a template field
			return lang.L("{{.Name}} was banned by {{.By}} until {{.Until}}.", data), widget.WarningImportance
		}
		return lang.L("{{.Name}} was banned by {{.By}}.", data), widget.WarningImportance
	case api.RoomUnban:
		return lang.L("{{.By}} lifted the ban on {{.Name}}.", data), widget.LowImportance
	case api.RoomOp:
		return lang.L("{{.By}} made {{.Name}} an operator.", data), widget.LowImportance
	case api.RoomDeop:
		return lang.L("{{.Name}} is no longer an operator.", data), widget.LowImportance
	case api.RoomVoice:
		return lang.L("{{.By}} gave {{.Name}} a voice.", data), widget.LowImportance
	case api.RoomDevoice:
		return lang.L("{{.By}} muted {{.Name}}.", data), widget.LowImportance
	case api.RoomTopic:
		if e.Topic == "" {
			return lang.L("{{.By}} cleared the topic.", data), widget.LowImportance
		}
		data["Topic"] = e.Topic // not translated: a template field
		return lang.L("{{.By}} changed the topic to \u201c{{.Topic}}\u201d.", data), widget.LowImportance
	case api.RoomModes:
		return lang.L("{{.By}} changed the room's settings.", data), widget.LowImportance
	case api.RoomInvited:
		return lang.L("{{.By}} invited {{.Name}}.", data), widget.LowImportance
	case api.RoomOwner:
		return lang.L("{{.Name}} is now the room's owner.", data), widget.LowImportance
	case api.RoomMessageDeleted:
		return lang.L("{{.By}} deleted a message.", data), widget.LowImportance
	case api.RoomReported:
		// Only the owner and operators get reports.
		data["Reason"] = e.Reason // not translated: a template field
		if e.Reason == "" {
			return lang.L("{{.By}} reported {{.Name}} to you.", data), widget.WarningImportance
		}
		return lang.L("{{.By}} reported {{.Name}} to you: \u201c{{.Reason}}\u201d", data), widget.WarningImportance
	case api.RoomDeleted:
		r.shut()
		return lang.L("{{.By}} deleted the room.", data), widget.WarningImportance
	}
	return "", 0 // a kind this version does not know
}

// shut stops the composer: we are no longer in the room.
func (r *roomWindow) shut() {
	r.out = true
	r.composer.setAllowed(false, false)
	r.header.settings.Hide()
	r.header.invite.Hide()
}

// showIf shows o when show, else hides it.
func showIf(o fyne.CanvasObject, show bool) {
	if show {
		o.Show()
	} else {
		o.Hide()
	}
}

// askInvite asks whom to invite to an invite-only room: a contact, or
// anyone by username.
func (r *roomWindow) askInvite() {
	a := r.app
	var names []string
	for _, c := range a.contacts {
		if c.Relation == api.RelationAccepted {
			names = append(names, c.Username)
		}
	}
	slices.Sort(names)
	who := widget.NewSelectEntry(names)
	who.SetPlaceHolder(lang.L("Their username"))
	hint := widget.NewLabel(lang.L("Only people invited can join {{.Room}}. Choose a contact or type a username.", map[string]any{"Room": roomTitle(r.name)}))
	hint.Wrapping = fyne.TextWrapWord
	askDialog(lang.L("Invite to the room"), container.NewVBox(hint, who), r.win, lang.L("Invite"), func() {
		u := foldUsername(who.Text)
		if u == "" {
			return
		}
		r.moderate(func(ctx context.Context) error { return a.api.RoomInvite(ctx, r.name, u) })()
	}).Show()
}
