package app

import (
	"context"

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
	members    int  // how many are in the room, as the home counts them
	shown      bool // the window is on screen
	out        bool // we were kicked or banned, or the room was deleted
}

func (a *App) newRoomWindow(room string) *roomWindow {
	r := &roomWindow{app: a, name: room, win: a.fyne.NewWindow(a.title(roomWindowTitle(room)))}
	r.header = newRoomHeader(room, r.showSettings, func() { a.leaveRoom(room) })
	r.transcript = newRoomTranscript(a, r.win)
	r.composer = newRoomComposer(r)
	split := container.NewVSplit(r.transcript.view(), r.composer.box)
	split.Offset = 0.82
	r.win.SetContent(container.NewBorder(container.NewVBox(r.header.box, widget.NewSeparator()), nil, nil, nil, split))
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
	r.header.setTopic(info.Topic)
	r.setMembers(info.Members)
	r.loadHistory()
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

// setMembers shows how many are in the room.
func (r *roomWindow) setMembers(n int) {
	r.members = n
	r.header.setCount(n)
}

// event shows a change in the room: a line everyone sees, and what it
// changes in the header.
func (r *roomWindow) event(e api.RoomEvent) {
	me := r.app.me()
	who, by := r.app.nameOf(e.Username), r.app.nameOf(e.By)
	data := map[string]any{"Name": who, "By": by} // not translated: template fields
	imp := widget.LowImportance
	var text string
	switch e.Kind {
	case api.RoomJoin:
		if e.Username == me {
			return // our own joining is the window opening
		}
		r.setMembers(r.members + 1)
		text = lang.L("{{.Name}} joined the room.", data)
	case api.RoomLeave:
		if r.members > 1 {
			r.setMembers(r.members - 1)
		}
		text = lang.L("{{.Name}} left the room.", data)
	case api.RoomKick:
		imp = widget.WarningImportance
		text = lang.L("{{.Name}} was kicked out by {{.By}}.", data)
		if e.Username == me {
			text = lang.L("{{.By}} kicked you out of the room. You can join it again.", data)
			r.shut()
		}
	case api.RoomBan:
		imp = widget.WarningImportance
		text = lang.L("{{.Name}} was banned by {{.By}}.", data)
		if e.Username == me {
			text = lang.L("{{.By}} banned you from the room.", data)
			r.shut()
		}
	case api.RoomUnban:
		text = lang.L("{{.By}} lifted the ban on {{.Name}}.", data)
	case api.RoomOp:
		text = lang.L("{{.By}} made {{.Name}} an operator.", data)
	case api.RoomDeop:
		text = lang.L("{{.Name}} is no longer an operator.", data)
	case api.RoomVoice:
		text = lang.L("{{.By}} gave {{.Name}} a voice.", data)
	case api.RoomDevoice:
		text = lang.L("{{.By}} muted {{.Name}}.", data)
	case api.RoomTopic:
		r.header.setTopic(e.Topic)
		data["Topic"] = e.Topic // not translated: a template field
		text = lang.L("{{.By}} changed the topic to \u201c{{.Topic}}\u201d.", data)
		if e.Topic == "" {
			text = lang.L("{{.By}} cleared the topic.", data)
		}
	case api.RoomModes:
		text = lang.L("{{.By}} changed the room's settings.", data)
	case api.RoomDeleted:
		imp = widget.WarningImportance
		text = lang.L("{{.By}} deleted the room.", data)
		r.shut()
	default:
		return // a kind this version does not know
	}
	r.transcript.line(text, imp)
}

// shut stops the composer: we are no longer in the room.
func (r *roomWindow) shut() {
	r.out = true
	r.composer.entry.Disable()
	r.composer.send.Disable()
}

// showSettings opens the room's settings (owners and operators).
func (r *roomWindow) showSettings() {}
