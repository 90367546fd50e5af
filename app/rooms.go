package app

// Chat rooms (issue 15): Contacts → Chat rooms opens the directory
// (rooms_directory.go); each room we joined has a window (room_window.go)
// made of parts: a header with the topic and how the room is protected,
// the transcript, the member list and the composer.
//
// The node remembers the rooms we joined and rejoins them at every
// sign-in; the app remembers them too (per account, in the profile's
// settings) so their windows come back with them: the API has no call
// that lists the rooms joined. Closing a room's window leaves the room,
// as leaving a channel in the chat programs of MSN's day did.

import (
	"context"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
	"eserver/node/wire"
)

// roomsState is what the app holds of chat rooms.
type roomsState struct {
	dir  *roomDirectory         // nil until first opened
	wins map[string]*roomWindow // the rooms joined, by name
}

// prefJoinedRooms + username keeps the rooms that account joined.
const prefJoinedRooms = "rooms.joined."

// joinedRooms are the rooms the signed-in account joined, as remembered.
func (a *App) joinedRooms() []string {
	if a.account == nil {
		return nil
	}
	return a.prefs.StringList(prefJoinedRooms + a.account.Username)
}

// rememberRoom keeps (or, with joined false, forgets) room in the list
// rejoined at sign-in.
func (a *App) rememberRoom(room string, joined bool) {
	if a.account == nil {
		return
	}
	list := a.joinedRooms()
	i := slices.Index(list, room)
	switch {
	case joined && i < 0:
		list = append(list, room)
	case !joined && i >= 0:
		list = slices.Delete(list, i, i+1)
	default:
		return
	}
	a.prefs.SetStringList(prefJoinedRooms+a.account.Username, list)
}

// reopenRooms brings back, at sign-in, the windows of the rooms we
// joined; the node rejoins them (JoinRoom again answers as the first did).
func (a *App) reopenRooms() {
	for _, room := range a.joinedRooms() {
		a.enterRoom(room, "", nil)
	}
}

// enterRoom joins room and opens its window with its backlog. failed,
// if not nil, is told the outcome (nil for success) and says why joining
// failed; else the room's window says it.
func (a *App) enterRoom(room, password string, failed func(error)) {
	var info api.Room
	a.command(func(ctx context.Context) error {
		var err error
		info, err = a.api.JoinRoom(ctx, room, password)
		return err
	}, func(err error) {
		if a.account == nil {
			return // signed out meanwhile
		}
		if err != nil {
			if failed != nil {
				failed(err)
				return
			}
			w := a.roomWindow(room)
			w.show(false)
			w.transcript.notice(lang.L("Could not join the room: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
			switch api.Code(err) {
			case "banned", "not_allowed", "bad_request":
				// Kept out (or the room is gone): not tried again at the
				// next sign-in, whose window would only say it again.
				a.rememberRoom(room, false)
			}
			return
		}
		a.rememberRoom(room, true)
		w := a.roomWindow(room)
		w.joined(info)
		w.show(failed != nil)
		if failed != nil {
			failed(nil)
		}
	})
}

// roomWindow returns room's window, making it (hidden) the first time.
func (a *App) roomWindow(room string) *roomWindow {
	if w := a.rooms.wins[room]; w != nil {
		return w
	}
	w := a.newRoomWindow(room)
	a.rooms.wins[room] = w
	return w
}

// leaveRoom leaves room for good: the node stops rejoining it.
func (a *App) leaveRoom(room string) {
	if w := a.rooms.wins[room]; w != nil {
		delete(a.rooms.wins, room)
		w.win.Close()
	}
	a.rememberRoom(room, false)
	a.command(func(ctx context.Context) error {
		return a.api.LeaveRoom(ctx, room)
	}, func(err error) {
		if err != nil {
			a.showError(a.main.win, err)
		}
	})
}

// roomMessage shows a room's message in its window. A room we left has
// none; one we joined elsewhere (the daemon, another window of this
// profile) gets one.
func (a *App) roomMessage(m api.RoomMessage) {
	w := a.rooms.wins[m.Room]
	if w == nil {
		if !slices.Contains(a.joinedRooms(), m.Room) {
			return
		}
		w = a.roomWindow(m.Room)
		w.show(false)
	}
	w.transcript.add(m)
}

// roomEvent shows a change in a room as a line everyone sees and updates
// the window's header and member list.
func (a *App) roomEvent(e api.RoomEvent) {
	w := a.rooms.wins[e.Room]
	if w == nil {
		return
	}
	w.event(e)
	if e.Kind == api.RoomDeleted || (e.Kind == api.RoomKick || e.Kind == api.RoomBan) && e.Username == a.me() {
		// We are out: the node stops rejoining it, and so do we.
		a.rememberRoom(e.Room, false)
	}
}

// closeRooms closes every room's window on signing out, without leaving
// the rooms: the next sign-in rejoins them.
func (a *App) closeRooms() {
	for name, w := range a.rooms.wins {
		w.win.Close()
		delete(a.rooms.wins, name)
	}
	if d := a.rooms.dir; d != nil {
		d.win.Hide()
		d.reset()
	}
}

// roomTitle is how a room is named: "ES — Spain" for a regional room,
// else its name.
func roomTitle(room string) string {
	if cc := wire.RoomRegion(room); cc != "" {
		return regionLabel(cc)
	}
	return room
}

// roomErrorText says why a room refused us, in plain words.
func roomErrorText(err error) string {
	switch api.Code(err) {
	case "banned":
		return lang.L("You are banned from this room.")
	case "room_full":
		return lang.L("The room is full.")
	case "not_allowed":
		return lang.L("The room does not allow that: it may be invite-only, moderated, or for another region.")
	case "wrong_password":
		return lang.L("The room's password is wrong.")
	case "rate_limited":
		return lang.L("Slow down: the room takes fewer messages. Try again in a moment.")
	}
	return errorText(err)
}

// askDialog is a dialog over win with content, Cancel and verb, which
// closes it and calls ok.
func askDialog(title string, content fyne.CanvasObject, win fyne.Window, verb string, ok func()) *dialog.CustomDialog {
	dlg := dialog.NewCustomWithoutButtons(title, content, win)
	yes := widget.NewButton(verb, func() { dlg.Hide(); ok() })
	yes.Importance = widget.HighImportance
	dlg.SetButtons([]fyne.CanvasObject{widget.NewButton(lang.L("Cancel"), dlg.Hide), yes})
	dlg.Resize(fyne.NewSize(340, 0))
	return dlg
}

// roomsMenuItem is Contacts → Chat rooms...: the directory.
func (a *App) roomsMenuItem() *fyne.MenuItem {
	return fyne.NewMenuItem(lang.L("Chat rooms..."), a.showRoomDirectory)
}
