package app

import (
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

// dayLabel names day as a separator does: "Today", "Yesterday", or
// "Monday 23 November 2026", in local time.
func dayLabel(day, now time.Time) string {
	day, now = day.Local(), now.Local()
	switch {
	case sameDay(day, now):
		return "Today"
	case sameDay(day, now.AddDate(0, 0, -1)):
		return "Yesterday"
	}
	return day.Format("Monday 2 January 2006")
}

// sameDay reports whether a and b fall on the same local calendar day.
func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Local().Date()
	by, bm, bd := b.Local().Date()
	return ay == by && am == bm && ad == bd
}

// pictureSize is how large display pictures show beside the conversation.
const pictureSize = 96

func newDisplayPicture() *canvas.Image {
	img := canvas.NewImageFromResource(avatarResource)
	img.FillMode = canvas.ImageFillContain
	img.ScaleMode = canvas.ImageScaleSmooth
	img.SetMinSize(fyne.NewSquareSize(pictureSize))
	return img
}

// setPicture shows the PNG at path, or the default picture for "".
func setPicture(img *canvas.Image, path string) {
	if path == img.File && (path != "" || img.Resource == avatarResource) {
		return
	}
	if path == "" {
		img.File, img.Resource = "", avatarResource
	} else {
		img.File, img.Resource = path, nil
	}
	img.Refresh()
}

// setMyPicture shows our own display picture.
func (c *chatWindow) setMyPicture(path string) { setPicture(c.myPic, path) }

// framePicture puts a picture in MSN's rounded frame.
func framePicture(img *canvas.Image) fyne.CanvasObject {
	f := &pictureFrame{img: img}
	f.ExtendBaseWidget(f)
	return f
}

// pictureFrame draws a rounded frame in the theme's colours around a
// picture (a widget, so a theme change repaints it).
type pictureFrame struct {
	widget.BaseWidget
	img *canvas.Image
}

func (f *pictureFrame) CreateRenderer() fyne.WidgetRenderer {
	bg := canvas.NewRectangle(color.Transparent)
	bg.StrokeWidth = 1
	r := &pictureFrameRenderer{f: f, bg: bg}
	r.Refresh()
	return r
}

type pictureFrameRenderer struct {
	f  *pictureFrame
	bg *canvas.Rectangle
}

func (r *pictureFrameRenderer) Layout(size fyne.Size) {
	pad := theme.Padding()
	r.bg.Resize(size)
	r.f.img.Move(fyne.NewSquareOffsetPos(pad))
	r.f.img.Resize(size.SubtractWidthHeight(2*pad, 2*pad))
}

func (r *pictureFrameRenderer) MinSize() fyne.Size {
	return r.f.img.MinSize().AddWidthHeight(2*theme.Padding(), 2*theme.Padding())
}

func (r *pictureFrameRenderer) Refresh() {
	r.bg.FillColor = theme.ColorForWidget(theme.ColorNameInputBackground, r.f)
	r.bg.StrokeColor = theme.ColorForWidget(theme.ColorNameSeparator, r.f)
	r.bg.CornerRadius = theme.Padding() * 2
	r.bg.Refresh()
	r.f.img.Refresh()
}

func (r *pictureFrameRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.bg, r.f.img}
}
func (r *pictureFrameRenderer) Destroy() {}
