package app

import (
	"context"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
	"eserver/node/wire"
)

// roomDirectory is the window of public rooms: a search box and a region
// filter over the directory's list, each room with its topic and how many
// are in it, and buttons to join the chosen room or create one. The home
// rate-limits directory searches, so the search runs on Enter (or the
// search button), not on every key.
type roomDirectory struct {
	app      *App
	win      fyne.Window
	search   *widget.Entry
	region   *widget.Select
	regions  []region // the filter's choices after "All regions"
	list     *widget.List
	rows     []api.RoomListing
	selected int // index into rows, -1 for none
	status   *widget.Label
	join     *widget.Button
	create   *widget.Button
	creating *createRoomDialog // the last Create room dialog, for tests
	asked    int               // searches started, so a slow answer never replaces a newer one
}

// roomListLimit is how many rooms a search shows.
const roomListLimit = 100

// showRoomDirectory opens the directory and searches it.
func (a *App) showRoomDirectory() {
	if a.rooms.dir == nil {
		a.rooms.dir = a.newRoomDirectory()
	}
	d := a.rooms.dir
	d.win.Show()
	d.win.RequestFocus()
	d.win.Canvas().Focus(d.search)
	d.refresh()
}

func (a *App) newRoomDirectory() *roomDirectory {
	d := &roomDirectory{app: a, win: a.fyne.NewWindow(a.title(lang.L("Chat rooms"))), selected: -1}
	d.search = widget.NewEntry()
	d.search.SetPlaceHolder(lang.L("Search rooms by name or topic..."))
	d.search.OnSubmitted = func(string) { d.refresh() }
	d.search.ActionItem = widget.NewButtonWithIcon("", theme.SearchIcon(), d.refresh)

	d.regions = regions()
	opts := []string{lang.L("All regions")}
	for _, r := range d.regions {
		opts = append(opts, r.label)
	}
	d.region = widget.NewSelect(opts, nil)
	d.region.SetSelectedIndex(0)
	d.region.OnChanged = func(string) { d.refresh() }

	d.list = widget.NewList(
		func() int { return len(d.rows) },
		func() fyne.CanvasObject { return newRoomListRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(d.rows) {
				o.(*roomListRow).set(d.rows[id])
			}
		})
	d.list.OnSelected = func(id widget.ListItemID) {
		d.selected = id
		d.join.Enable()
		if id < len(d.rows) && d.rows[id].Topic != "" {
			d.status.SetText(d.rows[id].Topic) // the whole topic, which the row may cut
		}
	}
	d.list.OnUnselected = func(widget.ListItemID) {
		d.selected = -1
		d.showJoinable()
	}

	d.status = widget.NewLabel("")
	d.status.Importance = widget.LowImportance
	d.status.Wrapping = fyne.TextWrapWord
	d.join = widget.NewButtonWithIcon(lang.L("Join"), theme.LoginIcon(), d.joinChosen)
	d.join.Importance = widget.HighImportance
	d.join.Disable()
	d.create = widget.NewButtonWithIcon(lang.L("Create room..."), theme.ContentAddIcon(), d.showCreate)
	d.search.OnChanged = func(string) { d.showJoinable() }

	top := container.NewBorder(nil, nil, nil, container.New(&widthLayout{regionWidth}, d.region), d.search)
	bottom := container.NewBorder(nil, nil, nil, container.NewHBox(d.create, d.join), d.status)
	d.win.SetContent(container.NewPadded(container.NewBorder(top, bottom, nil, nil, d.list)))
	d.win.Resize(fyne.NewSize(560, 460))
	d.win.SetIcon(iconResource)
	d.win.SetCloseIntercept(d.win.Hide)
	return d
}

// regionCode is the country the filter names, "" for every region.
func (d *roomDirectory) regionCode() string {
	if i := d.region.SelectedIndex(); i > 0 && i <= len(d.regions) {
		return d.regions[i-1].code
	}
	return ""
}

// refresh searches the directory for what the box and the filter say.
func (d *roomDirectory) refresh() {
	query, region := strings.TrimSpace(d.search.Text), d.regionCode()
	d.asked++
	asked := d.asked
	d.status.SetText(lang.L("Searching..."))
	var found []api.RoomListing
	d.app.command(func(ctx context.Context) error {
		var err error
		found, err = d.app.api.ListRooms(ctx, query, region, roomListLimit)
		return err
	}, func(err error) {
		if asked != d.asked {
			return // a newer search is under way
		}
		d.list.UnselectAll()
		d.selected = -1
		if err != nil {
			d.rows = nil
			d.list.Refresh()
			d.status.SetText(lang.L("The directory could not be searched: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
			d.showJoinable()
			return
		}
		d.rows = found
		d.list.Refresh()
		d.status.SetText(d.summary(query))
		d.showJoinable()
	})
}

// summary says what the search found.
func (d *roomDirectory) summary(query string) string {
	if len(d.rows) > 0 {
		return lang.N("{{.Count}} rooms", len(d.rows), map[string]any{"Count": len(d.rows)})
	}
	if wire.ValidRoomName(query) == nil {
		return lang.L("No public room matches. Join \u201c{{.Room}}\u201d to enter a room that is not listed.", map[string]any{"Room": query})
	}
	return lang.L("No public room matches.")
}

// showJoinable enables Join for a chosen room, or for a room's name typed
// in the search box (rooms that are not public are joined by name).
func (d *roomDirectory) showJoinable() {
	if d.selected >= 0 || wire.ValidRoomName(strings.TrimSpace(d.search.Text)) == nil {
		d.join.Enable()
	} else {
		d.join.Disable()
	}
}

// joinChosen joins the chosen room, or the one named in the search box.
func (d *roomDirectory) joinChosen() {
	room := strings.TrimSpace(d.search.Text)
	if d.selected >= 0 && d.selected < len(d.rows) {
		room = d.rows[d.selected].Room
	}
	if wire.ValidRoomName(room) != nil {
		return
	}
	d.joinRoom(room, "")
}

// joinRoom joins room; a room with a password asks for it.
func (d *roomDirectory) joinRoom(room, password string) {
	d.join.Disable()
	d.status.SetText(lang.L("Joining {{.Room}}...", map[string]any{"Room": roomTitle(room)}))
	d.app.enterRoom(room, password, func(err error) {
		d.showJoinable()
		if err == nil {
			d.status.SetText("")
			return
		}
		if api.Code(err) == "wrong_password" {
			hint := lang.L("{{.Room}} has a password. Ask its owner or an operator for it.", map[string]any{"Room": roomTitle(room)})
			if password != "" {
				hint = roomErrorText(err)
			}
			d.askPassword(room, hint)
			return
		}
		d.status.SetText(lang.L("Could not join the room: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
	})
}

// askPassword asks for room's password and joins with it.
func (d *roomDirectory) askPassword(room, hint string) {
	entry := widget.NewPasswordEntry()
	form := widget.NewForm(widget.NewFormItem(lang.L("Password"), entry))
	label := widget.NewLabel(hint)
	label.Wrapping = fyne.TextWrapWord
	dlg := askDialog(lang.L("Room password"), container.NewVBox(label, form), d.win, lang.L("Join"), func() {
		d.joinRoom(room, entry.Text)
	})
	entry.OnSubmitted = func(string) { dlg.Hide(); d.joinRoom(room, entry.Text) }
	dlg.Show()
	d.win.Canvas().Focus(entry)
}

// reset forgets the last account's search.
func (d *roomDirectory) reset() {
	d.search.SetText("")
	changed := d.region.OnChanged
	d.region.OnChanged = nil // no search for a signed-out account
	d.region.SetSelectedIndex(0)
	d.region.OnChanged = changed
	d.rows, d.selected = nil, -1
	d.list.UnselectAll()
	d.list.Refresh()
	d.status.SetText("")
}

// roomListRow is one room of the directory: its name (or region), topic
// and how many are in it.
type roomListRow struct {
	widget.BaseWidget
	name    *widget.Label
	topic   *widget.Label
	members *widget.Label
	box     *fyne.Container
}

func newRoomListRow() *roomListRow {
	r := &roomListRow{
		name:    widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		topic:   widget.NewLabel(""),
		members: widget.NewLabel(""),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.topic.Truncation = fyne.TextTruncateEllipsis
	r.topic.Importance = widget.LowImportance
	r.members.Importance = widget.LowImportance
	r.box = container.New(&roomRowLayout{}, r.name, r.topic, r.members)
	r.ExtendBaseWidget(r)
	return r
}

func (r *roomListRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(r.box)
}

func (r *roomListRow) set(l api.RoomListing) {
	name := roomTitle(l.Room)
	if l.Region != "" {
		name = regionLabel(l.Region)
	}
	r.name.SetText(name)
	r.topic.SetText(l.Topic)
	r.members.SetText(lang.N("{{.Count}} members", l.Members, map[string]any{"Count": l.Members}))
	r.box.Refresh() // lays out for the new count's width
}

// regionWidth is the region filter's width: most countries' names fit.
const regionWidth = 210

// widthLayout gives its objects at least width w, so a select is as wide
// as its longer choices rather than its current one.
type widthLayout struct{ w float32 }

func (l *widthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

func (l *widthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	min := fyne.NewSize(l.w, 0)
	for _, o := range objs {
		min = min.Max(o.MinSize())
	}
	return min
}

// roomRowLayout lays out a directory row: the count at the end, the name
// in a column of nameShare of the row, the topic between them.
type roomRowLayout struct{}

// nameShare is the part of a directory row the room's name takes.
const nameShare = 0.3

func (l *roomRowLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	name, topic, members := objs[0], objs[1], objs[2]
	mw := members.MinSize().Width
	members.Move(fyne.NewPos(size.Width-mw, 0))
	members.Resize(fyne.NewSize(mw, size.Height))
	nw := size.Width * nameShare // of the whole row, so every row's topic starts at one place
	name.Move(fyne.NewPos(0, 0))
	name.Resize(fyne.NewSize(nw, size.Height))
	topic.Move(fyne.NewPos(nw, 0))
	topic.Resize(fyne.NewSize(max(0, size.Width-mw-nw), size.Height))
}

func (l *roomRowLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	for _, o := range objs {
		m := o.MinSize()
		w += m.Width
		h = max(h, m.Height)
	}
	return fyne.NewSize(w, h)
}
