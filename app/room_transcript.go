package app

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
	"eserver/node/api"
)

// roomTranscript is a room's messages, oldest first: each with its time,
// its author's picture and name, and lines from the room (joins, the
// topic, moderation) everyone sees. It keeps the newest in view unless the
// reader scrolled up, as a conversation does (chat_follow.go).
type roomTranscript struct {
	app    *App
	win    fyne.Window
	clock  clock
	box    *fyne.Container
	scroll *container.Scroll
	follow bool
	byID   map[string]*messageText // messages shown, so a backlog repeats none
	items  []string                // the ID of each item shown, oldest first ("" for a line)
	// days are the day separators, to relabel as days pass; lastDay the
	// day of the newest item.
	days    []*dayDivider
	lastDay time.Time
	// menu is what a right-click on a message offers (the window's
	// messageMenu); nil offers nothing.
	menu func(api.RoomMessage) *fyne.Menu
	// pictures are the authors' pictures decoded, by file ("" the default
	// picture): a picture from a file or resource is decoded again at
	// every refresh, which a long room makes slow.
	pictures map[string]image.Image
}

// maxRoomItems is how many messages and lines a room's window keeps: a
// busy room would otherwise grow without bound; the oldest go first.
// Every message added measures those shown (Fyne's VBox), about 25 ms at
// 500 in the test driver: a list that lays out only the rows in view
// would lift the bound. A variable so a test need not lay out 500.
var maxRoomItems = 500

// roomPictureSize is how large an author's picture shows beside a message.
const roomPictureSize = 32

func newRoomTranscript(a *App, win fyne.Window) *roomTranscript {
	t := &roomTranscript{app: a, win: win, clock: chatClock, follow: true, byID: make(map[string]*messageText),
		pictures: make(map[string]image.Image)}
	t.box = container.New(&followLayout{inner: layout.NewCustomPaddedVBoxLayout(theme.Padding()), after: t.keepNewestInView})
	t.scroll = container.NewVScroll(t.box)
	t.scroll.OnScrolled = func(fyne.Position) {
		t.follow = t.scroll.Offset.Y >= t.box.MinSize().Height-t.scroll.Size().Height-followSlack
	}
	return t
}

// view is what the window shows of the transcript.
func (t *roomTranscript) view() fyne.CanvasObject {
	return container.New(&followLayout{after: t.keepNewestInView}, t.scroll)
}

func (t *roomTranscript) keepNewestInView() {
	if t.follow {
		t.scroll.ScrollToBottom()
	}
}

// add shows a message once, however often the node reports it (the
// backlog on every rejoin, RoomHistory beside the events).
func (t *roomTranscript) add(m api.RoomMessage) {
	if _, shown := t.byID[m.ID]; shown && m.ID != "" {
		return
	}
	when := m.Time
	if when.IsZero() {
		when = t.clock.Now()
	}
	row, text := t.messageRow(m, when)
	if m.ID != "" {
		t.byID[m.ID] = text
	}
	t.append(when, row, m.ID)
}

// deleted shows that the message id was deleted for everyone.
func (t *roomTranscript) deleted(id string) {
	if text := t.byID[id]; text != nil {
		text.SetText(lang.L("(message deleted)"))
	}
}

// addHistory shows the backlog RoomHistory returned, oldest first.
func (t *roomTranscript) addHistory(ms []api.RoomMessage) {
	for _, m := range ms {
		t.add(m)
	}
}

// line shows a line from the room or the app, as everyone in it sees it.
func (t *roomTranscript) line(text string, imp widget.Importance) {
	l := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	l.Importance = imp
	l.Wrapping = fyne.TextWrapWord
	t.append(t.clock.Now(), l, "")
}

// notice shows an error from the app.
func (t *roomTranscript) notice(text string) {
	t.line(text, widget.DangerImportance)
}

// append shows obj at the end, after a day separator if a new day began,
// dropping the oldest items past maxRoomItems.
func (t *roomTranscript) append(when time.Time, obj fyne.CanvasObject, id string) {
	if len(t.items) == 0 || !sameDay(t.lastDay, when) {
		d := newDayDivider(when)
		t.days = append(t.days, d)
		t.box.Add(d)
	}
	t.lastDay = when
	t.box.Add(obj)
	t.items = append(t.items, id)
	if len(t.items) > maxRoomItems {
		t.dropOldest()
	}
	now := t.clock.Now()
	for _, d := range t.days {
		d.setNow(now)
	}
	if t.follow {
		// Lays the scroll out for the new height, and no more: a full
		// refresh would redraw every message of a long room.
		t.scroll.ScrollToBottom()
	} else {
		t.scroll.Refresh()
	}
}

// dropOldest removes the oldest item and a day separator left with none.
func (t *roomTranscript) dropOldest() {
	objs := t.box.Objects
	for i, o := range objs {
		if _, ok := o.(*dayDivider); ok {
			continue
		}
		objs = append(objs[:i], objs[i+1:]...)
		break
	}
	if len(objs) > 1 {
		if _, ok := objs[0].(*dayDivider); ok {
			if _, next := objs[1].(*dayDivider); next {
				objs = objs[1:]
				t.days = t.days[1:]
			}
		}
	}
	t.box.Objects = objs
	delete(t.byID, t.items[0])
	t.items = t.items[1:]
}

// messageRow is one message: the author's picture beside "14:05  Bob"
// and the text under it.
func (t *roomTranscript) messageRow(m api.RoomMessage, when time.Time) (fyne.CanvasObject, *messageText) {
	pic := newDisplayPicture(roomPictureSize, nil)
	path, st := t.app.roomPictureOf(m.From, m.AvatarPath)
	pic.setImage(t.picture(path))
	pic.setStatus(st)
	name := widget.NewLabelWithStyle(t.app.roomNameOf(m.From, m.Nick), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	name.Truncation = fyne.TextTruncateEllipsis
	at := widget.NewLabel(clockText(when))
	at.Importance = widget.LowImportance
	text := newMessageText(m.Text)
	text.onLink = func(u *url.URL) { t.app.openLink(t.win, u) }
	gap := canvas.NewRectangle(color.Transparent)
	gap.SetMinSize(fyne.NewSize(theme.Padding(), 0))
	body := container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2),
		container.NewBorder(nil, nil, nil, at, name), text)
	row := &roomMessageRow{t: t, msg: m, pic: pic, box: container.NewBorder(nil, nil, container.NewHBox(container.NewVBox(pic), gap), nil, body)}
	row.ExtendBaseWidget(row)
	return row, text
}

// roomMessageRow is one message in the transcript; a right-click on it
// offers the window's message menu.
type roomMessageRow struct {
	widget.BaseWidget
	t   *roomTranscript
	msg api.RoomMessage
	pic *displayPicture
	box *fyne.Container
}

// setPicture shows the picture at path beside username's messages: a
// member who is not a contact, whose picture arrived after their words.
func (t *roomTranscript) setPicture(username, path string) {
	for _, o := range t.box.Objects {
		if row, ok := o.(*roomMessageRow); ok && row.msg.From == username {
			row.msg.AvatarPath = path
			p, _ := t.app.roomPictureOf(username, path)
			row.pic.setImage(t.picture(p))
		}
	}
}

func (r *roomMessageRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(r.box)
}

// TappedSecondary shows the message's menu.
func (r *roomMessageRow) TappedSecondary(ev *fyne.PointEvent) {
	if r.t.menu == nil {
		return
	}
	if m := r.t.menu(r.msg); m != nil {
		widget.ShowPopUpMenuAtPosition(m, r.t.win.Canvas(), ev.AbsolutePosition)
	}
}

// pictureOf is the display picture and status to show beside username's
// messages: ours, a contact's, or the default picture for anyone else.
func (a *App) pictureOf(username string) (string, api.Status) {
	if a.account != nil && username == a.account.Username {
		return a.account.AvatarPath, a.account.Status
	}
	if c, ok := a.contacts[username]; ok && c.Relation == api.RelationAccepted {
		st := api.StatusOffline
		if c.Online() {
			st = c.Status
		}
		return c.AvatarPath, st
	}
	return "", api.StatusOffline
}

// roomPictureOf is pictureOf for a room's member: a member who is not a
// contact shows the picture its messages advertised (path, once the node
// fetched it).
func (a *App) roomPictureOf(username, path string) (string, api.Status) {
	if a.knows(username) {
		return a.pictureOf(username)
	}
	return path, api.StatusOffline
}

// roomNameOf is the name to show for a room's member: ours, a contact's as
// we know them, else the nick the member signed beside its username — a
// stranger may call itself anything, so its username always shows.
func (a *App) roomNameOf(username, nick string) string {
	if a.knows(username) || nick == "" || nick == username {
		return a.nameOf(username)
	}
	return nick + " (" + username + ")" // no words to translate
}

// knows reports whether username is us or an accepted contact: someone
// whose name and picture we know otherwise than from a room.
func (a *App) knows(username string) bool {
	if a.account != nil && username == a.account.Username {
		return true
	}
	c, ok := a.contacts[username]
	return ok && c.Relation == api.RelationAccepted
}

// picture is the picture in the file at path decoded, once; the default
// picture for "" or a file that cannot be read.
func (t *roomTranscript) picture(path string) image.Image {
	if img, ok := t.pictures[path]; ok {
		return img
	}
	var img image.Image
	if path != "" {
		img, _ = decodePicture(path)
	}
	if img == nil && path != "" {
		img = t.picture("")
	}
	if img == nil {
		img, _ = png.Decode(bytes.NewReader(assets.Avatar))
	}
	t.pictures[path] = img
	return img
}

// setImage shows a decoded picture.
func (p *displayPicture) setImage(img image.Image) {
	p.path = ""
	p.img.File, p.img.Resource, p.img.Image = "", nil, img
	p.img.Refresh()
}
