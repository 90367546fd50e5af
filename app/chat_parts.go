package app

import (
	"eserver/node/api"
	"image/color"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Pieces of the chat window: day separators and display pictures.

// dayDivider is the centred line between days: "——— Yesterday ———".
type dayDivider struct {
	widget.BaseWidget
	day   time.Time
	label *widget.Label
}

func newDayDivider(day time.Time) *dayDivider {
	d := &dayDivider{day: day, label: widget.NewLabelWithStyle("", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})}
	d.label.Importance = widget.LowImportance
	d.ExtendBaseWidget(d)
	return d
}

// setNow names the day as seen at now.
func (d *dayDivider) setNow(now time.Time) {
	d.label.SetText(dayLabel(d.day, now))
}

func (d *dayDivider) CreateRenderer() fyne.WidgetRenderer {
	left, right := canvas.NewRectangle(color.Transparent), canvas.NewRectangle(color.Transparent)
	r := &dayDividerRenderer{d: d, left: left, right: right}
	r.Refresh()
	return r
}

type dayDividerRenderer struct {
	d           *dayDivider
	left, right *canvas.Rectangle
}

func (r *dayDividerRenderer) Layout(size fyne.Size) {
	pad := theme.Padding() * 2
	lw := fyne.Min(r.d.label.MinSize().Width, size.Width)
	r.d.label.Resize(fyne.NewSize(lw, size.Height))
	r.d.label.Move(fyne.NewPos((size.Width-lw)/2, 0))
	side := (size.Width-lw)/2 - pad
	y := size.Height / 2
	r.left.Move(fyne.NewPos(pad, y))
	r.left.Resize(fyne.NewSize(fyne.Max(0, side-pad), 1))
	r.right.Move(fyne.NewPos((size.Width+lw)/2, y))
	r.right.Resize(fyne.NewSize(fyne.Max(0, side-pad), 1))
}

func (r *dayDividerRenderer) MinSize() fyne.Size { return r.d.label.MinSize() }

func (r *dayDividerRenderer) Refresh() {
	line := theme.ColorForWidget(theme.ColorNameSeparator, r.d)
	r.left.FillColor, r.right.FillColor = line, line
	r.left.Refresh()
	r.right.Refresh()
	r.d.label.Refresh()
}

func (r *dayDividerRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.left, r.right, r.d.label}
}

func (r *dayDividerRenderer) Destroy() {}

// sameDay reports whether a and b fall on the same local calendar day.
func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Local().Date()
	by, bm, bd := b.Local().Date()
	return ay == by && am == bm && ad == bd
}

// pictureSize is how large display pictures show beside the conversation.
const pictureSize = 96

// setMyPicture shows our own display picture, framed in our status.
func (c *chatWindow) setMyPicture(acc api.Account) {
	c.myPic.setPicture(acc.AvatarPath)
	c.myPic.setStatus(acc.Status)
}
