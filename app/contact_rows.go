package app

import (
	"os"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// Display pictures in the contact list, as Windows Live Messenger offered
// them under "Show contact's display pictures": small beside the name (the
// default), large with the personal message on a second line, or none —
// the tight list of earlier versions. The choice is the profile's
// (Options → Appearance).

// pictureMode is how the contact list shows contacts' pictures.
type pictureMode string

const (
	picturesSmall pictureMode = "small"
	picturesLarge pictureMode = "large"
	picturesNone  pictureMode = "none"
)

// prefContactPictures keeps the pictureMode; unset is small.
const prefContactPictures = "contacts.pictures"

// pictureOption is a mode as Options offers it.
type pictureOption struct {
	label string
	mode  pictureMode
}

// pictureChoices are the modes as Options offers them, in order, named in
// the language in use.
func pictureChoices() []pictureOption {
	return []pictureOption{
		{lang.L("Large"), picturesLarge},
		{lang.L("Small"), picturesSmall},
		{lang.L("None"), picturesNone},
	}
}

// Sizes of contact rows with pictures. A small picture fits the height of
// a row of text, so the list is as tight as without pictures; a large one
// makes room for two lines beside it.
const (
	smallPicture   = 20
	largePicture   = 40
	largeRowHeight = largePicture + 6
)

// pictureMode is the chosen mode; a value this version does not know (a
// hand-edited file, a later version's) is the default.
func (a *App) pictureMode() pictureMode {
	switch m := pictureMode(a.prefs.String(prefContactPictures)); m {
	case picturesLarge, picturesNone:
		return m
	}
	return picturesSmall
}

// setPictureMode keeps mode and shows the list in it.
func (a *App) setPictureMode(mode pictureMode) {
	if mode == a.main.pictures {
		return
	}
	a.prefs.SetString(prefContactPictures, string(mode))
	a.main.pictures = mode
	a.contactsChanged()
}

// setRowHeights makes contact rows tall enough for large pictures. Other
// rows take the list's template height, a header's; that is every row's
// height in the other modes, so the list stays tight and uniform then.
func (m *mainWindow) setRowHeights() {
	if m.pictures != picturesLarge && !m.rowHeightsSet {
		return // never changed: nothing to put back
	}
	m.rowHeightsSet = true
	if m.headerHeight == 0 {
		m.headerHeight = m.list.CreateItem().MinSize().Height
	}
	for i, r := range m.rows {
		h := m.headerHeight
		if r.header == "" && m.pictures == picturesLarge {
			h = largeRowHeight
		}
		m.list.SetItemHeight(i, h)
	}
}

// rowStatus is what a contact row says after the name: how the request
// stands, or the status in words as MSN put it ("Bob (Busy)"). Available
// goes without saying, and so does Offline in the Offline section; in a
// group, among online contacts, an offline one says it.
func rowStatus(c api.Contact, section string) string {
	switch c.Relation {
	case api.RelationPendingOut:
		return lang.L("pending")
	case api.RelationBlocked:
		return lang.L("blocked")
	}
	switch {
	case c.Online() && c.Status != api.StatusOnline:
		return statusLabel(c.Status)
	case !c.Online() && section != sectionOffline && section != sectionOnline:
		return statusLabel(api.StatusOffline)
	}
	return ""
}

// rowPicture is a contact's display picture in its row, framed thinly in
// the colour of its status.
type rowPicture struct {
	widget.BaseWidget
	img   *canvas.Image
	frame *canvas.Rectangle
	path  string // the picture shown; "" is the default
}

func newRowPicture() *rowPicture {
	p := &rowPicture{img: canvas.NewImageFromResource(avatarResource), frame: canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))}
	p.img.FillMode = canvas.ImageFillContain
	p.img.ScaleMode = canvas.ImageScaleSmooth
	p.frame.StrokeWidth = 1
	p.ExtendBaseWidget(p)
	return p
}

// set shows the picture at path (the default when "" or unreadable) in
// a frame coloured for st.
func (p *rowPicture) set(path string, st api.Status) {
	if c := statusColour(st); p.frame.StrokeColor != c {
		p.frame.StrokeColor = c
		p.frame.Refresh()
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			path = "" // not fetched yet, or pruned from the cache
		}
	}
	if path == p.path {
		return // rows are rebound often: load the picture only when it changes
	}
	p.path = path
	if path == "" {
		p.img.File, p.img.Resource = "", avatarResource
	} else {
		p.img.File, p.img.Resource = path, nil
	}
	p.img.Refresh()
}

func (p *rowPicture) CreateRenderer() fyne.WidgetRenderer {
	return &rowPictureRenderer{p: p}
}

type rowPictureRenderer struct{ p *rowPicture }

func (r *rowPictureRenderer) Layout(size fyne.Size) {
	r.p.frame.Resize(size)
	r.p.frame.CornerRadius = size.Width / 8
	r.p.img.Move(fyne.NewPos(1.5, 1.5))
	r.p.img.Resize(size.SubtractWidthHeight(3, 3))
}

func (r *rowPictureRenderer) MinSize() fyne.Size { return fyne.NewSquareSize(smallPicture) }
func (r *rowPictureRenderer) Refresh()           { r.p.frame.Refresh(); r.p.img.Refresh() }
func (r *rowPictureRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.p.frame, r.p.img}
}
func (r *rowPictureRenderer) Destroy() {}

// contactLayout places a contact row's objects: the status dot (objs[0])
// at indent, the picture (objs[1]) after it unless hidden, then the text
// line (objs[2]) and, with large pictures, the second line (objs[3])
// under it. The lines are emoticonLines, padded as labels are: they are
// placed so their text, not their padding, sits where it should.
//
// Its MinSize is a header's height whatever the mode: the list takes its
// rows' height from it, and only contact rows grow for large pictures
// (mainWindow.setRowHeights).
type contactLayout struct {
	indent, icon, gap float32
	mode              pictureMode
}

func (l contactLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	glyph, pic, text, second := objs[0], objs[1], objs[2].(*emoticonLine), objs[3]
	pad := theme.Size(theme.SizeNameInnerPadding)
	textH := text.MinSize().Height - 2*pad
	// A single line sits as a header's text does; two share the row.
	lineY := float32(rowInnerPadding)
	mid := lineY + textH/2
	if l.mode == picturesLarge {
		mid = size.Height / 2
		lineY = mid - textH - 1
	}
	glyph.Resize(fyne.NewSquareSize(l.icon))
	glyph.Move(fyne.NewPos(l.indent, mid-l.icon/2))
	x := l.indent + l.icon + l.gap
	if side := l.pictureSide(); side > 0 {
		// Centred on the text, but never past the row's edges.
		y := min(max(0, mid-side/2), max(0, size.Height-side))
		pic.Resize(fyne.NewSquareSize(side))
		pic.Move(fyne.NewPos(x, y))
		x += side + l.gap
	}
	line := func(o fyne.CanvasObject, y float32) {
		o.Move(fyne.NewPos(x-pad, y-pad))
		o.Resize(fyne.NewSize(max(0, size.Width-x+2*pad), textH+2*pad))
	}
	line(text, lineY)
	if l.mode == picturesLarge {
		line(second, mid+1)
	}
}

// pictureSide is the side of the mode's pictures, 0 for none.
func (l contactLayout) pictureSide() float32 {
	switch l.mode {
	case picturesSmall:
		return smallPicture
	case picturesLarge:
		return largePicture
	}
	return 0
}

func (l contactLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	_, above, below := rowInsets()
	text := objs[2].MinSize()
	return fyne.NewSize(l.indent+l.icon+l.gap, max(l.icon, text.Height-above-below))
}

// picturesChoice is the Appearance setting for pictures in the list.
func (a *App) picturesChoice(s *settingsWindow) fyne.CanvasObject {
	choices := pictureChoices()
	var labels []string
	for _, c := range choices {
		labels = append(labels, c.label)
	}
	s.pictures = widget.NewRadioGroup(labels, func(label string) {
		for _, c := range choices {
			if c.label == label {
				a.setPictureMode(c.mode)
			}
		}
	})
	s.pictures.Horizontal = true
	s.pictures.Required = true
	for _, c := range choices {
		if c.mode == a.main.pictures {
			s.pictures.SetSelected(c.label)
		}
	}
	return s.pictures
}
