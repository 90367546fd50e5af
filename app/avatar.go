package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // display pictures may be GIF, PNG or JPEG, as SetAvatar takes
	_ "image/jpeg"
	_ "image/png"
	"math"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
	"eserver/node/api"
	"eserver/node/picture"
)

// statusColour is the colour of a status's glyph, for frames around
// display pictures (Windows Live Messenger framed them so).
func statusColour(st api.Status) color.NRGBA {
	switch glyph(st) {
	case glyphOnline:
		return color.NRGBA{0x3c, 0xb3, 0x1c, 0xff}
	case glyphBusy:
		return color.NRGBA{0xd9, 0x24, 0x1c, 0xff}
	case glyphAway:
		return color.NRGBA{0xf0, 0x96, 0x12, 0xff}
	}
	return color.NRGBA{0xa6, 0xa6, 0xa6, 0xff}
}

// displayPicture is a display picture in a rounded frame coloured by
// status. With onTap it is a button (our own picture opens the picker).
type displayPicture struct {
	widget.BaseWidget
	img   *canvas.Image
	frame *canvas.Rectangle
	size  float32
	path  string // the picture shown; "" is the default
	onTap func()
}

func newDisplayPicture(size float32, onTap func()) *displayPicture {
	p := &displayPicture{size: size, onTap: onTap}
	p.img = canvas.NewImageFromResource(avatarResource)
	p.img.FillMode = canvas.ImageFillContain
	p.img.ScaleMode = canvas.ImageScaleSmooth
	p.frame = canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	p.frame.StrokeWidth = 2
	p.frame.CornerRadius = size / 10
	p.frame.StrokeColor = statusColour(api.StatusOffline)
	p.ExtendBaseWidget(p)
	return p
}

// setPicture shows the PNG at path, or the default picture when path is
// empty or the file cannot be read (a contact's picture not fetched yet).
func (p *displayPicture) setPicture(path string) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			path = ""
		}
	}
	if path == p.path {
		return
	}
	p.path = path
	if path == "" {
		p.img.File, p.img.Resource = "", avatarResource
	} else {
		p.img.File, p.img.Resource = path, nil
	}
	p.img.Refresh()
}

// setStatus colours the frame for st.
func (p *displayPicture) setStatus(st api.Status) {
	p.frame.StrokeColor = statusColour(st)
	p.frame.Refresh()
}

func (p *displayPicture) MinSize() fyne.Size { return fyne.NewSquareSize(p.size) }

func (p *displayPicture) CreateRenderer() fyne.WidgetRenderer {
	return &pictureRenderer{p: p}
}

// Tapped opens whatever the picture is for.
func (p *displayPicture) Tapped(*fyne.PointEvent) {
	if p.onTap != nil {
		p.onTap()
	}
}

// Cursor shows a hand when the picture can be clicked.
func (p *displayPicture) Cursor() desktop.Cursor {
	if p.onTap != nil {
		return desktop.PointerCursor
	}
	return desktop.DefaultCursor
}

// pictureRenderer keeps the picture square and inset in its frame,
// whatever size the layout gives the widget.
type pictureRenderer struct{ p *displayPicture }

func (r *pictureRenderer) Layout(size fyne.Size) {
	side := min(size.Width, size.Height)
	pos := fyne.NewPos((size.Width-side)/2, (size.Height-side)/2)
	r.p.frame.Move(pos)
	r.p.frame.Resize(fyne.NewSquareSize(side))
	inset := float32(4)
	r.p.img.Move(pos.AddXY(inset, inset))
	r.p.img.Resize(fyne.NewSquareSize(side - 2*inset))
}

func (r *pictureRenderer) MinSize() fyne.Size { return r.p.MinSize() }
func (r *pictureRenderer) Refresh()           { r.p.frame.Refresh(); r.p.img.Refresh() }
func (r *pictureRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.p.frame, r.p.img}
}
func (r *pictureRenderer) Destroy() {}

// avatarPicker is the "Display picture" window: choose a picture, move and
// size the square that is kept, see the result at the size contacts see
// it, then OK sends it to the node to crop and scale. Or pick one of the
// gallery's ready-made pictures, which need no cropping.
type avatarPicker struct {
	app    *App
	win    fyne.Window
	path   string      // the chosen file; "" until one is chosen
	img    image.Image // path (or the gallery picture), decoded
	crop   api.Crop    // in img's pixels, from its top left
	chosen int         // the gallery picture chosen, an index into assets.Pictures; -1 for none

	gallery []*pictureChoice // one per assets.Pictures

	view    *cropView
	size    *widget.Slider
	x       *widget.Slider
	y       *widget.Slider
	preview *canvas.Image // the crop, at api.AvatarSize
	browse  *widget.Button
	reset   *widget.Button // "Default picture"
	ok      *widget.Button
	cancel  *widget.Button
	errText *widget.Label

	// sliderNames name size, x and y, greyed while their slider is off;
	// seen is the caption under preview.
	sliderNames [3]*widget.Label
	seen        *widget.Label

	updating bool // set while sliders show a crop, so they do not feed back
}

// showAvatarPicker opens the display picture window.
func (a *App) showAvatarPicker() {
	if a.account == nil {
		return
	}
	m := a.main
	if m.picker == nil {
		m.picker = a.newAvatarPicker()
	}
	p := m.picker
	p.clear()
	p.win.Show()
	p.win.RequestFocus()
}

func (a *App) newAvatarPicker() *avatarPicker {
	p := &avatarPicker{app: a, win: a.fyne.NewWindow(a.title(lang.L("Display picture"))), chosen: -1}
	p.view = newCropView(p)
	thumbs := container.NewHBox()
	for i := range assets.Pictures {
		c := newPictureChoice(pictureResources[i], func() { p.choosePicture(i) })
		p.gallery = append(p.gallery, c)
		thumbs.Add(c)
	}

	slider := func(onChange func(v int)) *widget.Slider {
		s := widget.NewSlider(0, 1)
		s.Step = 1
		s.OnChanged = func(v float64) {
			if !p.updating {
				onChange(int(v))
			}
		}
		return s
	}
	p.size = slider(func(v int) {
		// Grow or shrink about the square's centre, as a zoom does.
		c := p.crop
		p.setCrop(api.Crop{X: c.X + (c.Size-v)/2, Y: c.Y + (c.Size-v)/2, Size: v})
	})
	p.x = slider(func(v int) { c := p.crop; c.X = v; p.setCrop(c) })
	p.y = slider(func(v int) { c := p.crop; c.Y = v; p.setCrop(c) })

	p.preview = canvas.NewImageFromResource(avatarResource)
	p.preview.FillMode = canvas.ImageFillStretch
	p.preview.ScaleMode = canvas.ImageScaleSmooth
	p.preview.SetMinSize(fyne.NewSquareSize(api.AvatarSize))

	p.errText = widget.NewLabel("")
	p.errText.Importance = widget.DangerImportance
	p.errText.Wrapping = fyne.TextWrapWord
	p.errText.Hide()

	p.browse = widget.NewButtonWithIcon(lang.L("Browse..."), theme.FolderOpenIcon(), p.chooseFile)
	p.reset = widget.NewButton(lang.L("Default picture"), func() { p.save("", api.Crop{}) })
	p.cancel = widget.NewButton(lang.L("Cancel"), p.win.Hide)
	p.ok = widget.NewButton(lang.L("OK"), func() {
		if p.chosen >= 0 {
			p.savePicture(assets.Pictures[p.chosen])
		} else {
			p.save(p.path, p.crop)
		}
	})
	p.ok.Importance = widget.HighImportance

	intro := widget.NewLabel(lang.L("Choose how you want to appear to others. For a picture of your own, drag the square, or scroll over it, to choose the part that is kept."))
	intro.Wrapping = fyne.TextWrapWord
	// A sentence on two lines as narrow as the preview ("Contacts see"
	// alone read as cut off).
	p.seen = widget.NewLabelWithStyle(lang.L("Your contacts\nsee this."), fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
	frame := canvas.NewRectangle(color.Transparent)
	frame.StrokeColor = theme.Color(theme.ColorNameInputBorder)
	frame.StrokeWidth = 1
	side := container.NewVBox(container.NewCenter(container.NewStack(p.preview, frame)), p.seen)
	// The sliders' names are labels of their own, not a form's, so they
	// can be greyed with the slider: bold names beside disabled sliders
	// looked ready to use before any picture was chosen.
	for i, name := range []string{lang.L("Size"), lang.L("Left"), lang.L("Top")} {
		p.sliderNames[i] = widget.NewLabelWithStyle(name, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
	}
	sliders := container.New(layout.NewFormLayout(),
		p.sliderNames[0], p.size, p.sliderNames[1], p.x, p.sliderNames[2], p.y)
	buttons := container.NewHBox(p.browse, p.reset, layout.NewSpacer(), p.cancel, p.ok)
	ours := widget.NewLabel(lang.L("Or pick one of ours:"))
	p.win.SetContent(container.NewPadded(container.NewBorder(
		intro,
		container.NewVBox(sliders, ours, thumbs, p.errText, buttons),
		nil, side, p.view)))
	p.win.Resize(fyne.NewSize(560, 580))
	p.win.SetIcon(iconResource)
	// Closing hides the window so it opens again where it was.
	p.win.SetCloseIntercept(p.win.Hide)
	return p
}

// clear shows our current picture with nothing chosen yet.
func (p *avatarPicker) clear() {
	p.path, p.img, p.crop = "", nil, api.Crop{}
	p.setChosen(-1)
	p.preview.Image, p.preview.File, p.preview.Resource = nil, "", avatarResource
	if acc := p.app.account; acc != nil && acc.AvatarPath != "" {
		if _, err := os.Stat(acc.AvatarPath); err == nil {
			p.preview.File, p.preview.Resource = acc.AvatarPath, nil
		}
	}
	p.preview.Refresh()
	p.errText.Hide()
	for _, s := range []*widget.Slider{p.size, p.x, p.y} {
		s.Disable()
	}
	p.showSliders()
	p.ok.Disable()
	p.reset.Enable()
	p.view.Refresh()
}

// showSliders greys the name of each slider that is off, so a row reads
// as unusable as it is.
func (p *avatarPicker) showSliders() {
	for i, s := range []*widget.Slider{p.size, p.x, p.y} {
		imp := widget.MediumImportance
		if s.Disabled() {
			imp = widget.LowImportance
		}
		if l := p.sliderNames[i]; l.Importance != imp {
			l.Importance = imp
			l.Refresh()
		}
	}
}

// chooseFile asks for a picture file.
func (p *avatarPicker) chooseFile() {
	pickFile(p.win, lang.L("Choose a picture"), lang.L("Open"), "", []string{".png", ".jpg", ".jpeg", ".gif"}, p.load)
}

// load shows the picture at path with the largest centred square chosen,
// as SetAvatar would keep by default.
func (p *avatarPicker) load(path string) {
	img, problem := decodePicture(path)
	if problem != "" {
		p.fail(problem)
		return
	}
	b := img.Bounds()
	p.path, p.img = path, img
	p.setChosen(-1)
	p.errText.Hide()
	short := min(b.Dx(), b.Dy())
	p.size.Min, p.size.Max = float64(min(16, short)), float64(short)
	p.ok.Enable()
	p.size.Enable()
	p.setCrop(api.Crop{X: (b.Dx() - short) / 2, Y: (b.Dy() - short) / 2, Size: short})
}

// choosePicture shows the gallery's picture i, whole: it is already a
// display picture, so there is nothing to crop.
func (p *avatarPicker) choosePicture(i int) {
	img, _, err := image.Decode(bytes.NewReader(assets.Pictures[i].PNG))
	if err != nil {
		fyne.LogError("decoding a picture of ours", err)
		p.fail(lang.L("That picture could not be read."))
		return
	}
	b := img.Bounds()
	p.path, p.img = "", img
	p.crop = api.Crop{Size: min(b.Dx(), b.Dy())}
	p.setChosen(i)
	p.errText.Hide()
	for _, s := range []*widget.Slider{p.size, p.x, p.y} {
		s.Disable()
	}
	p.showSliders()
	p.preview.Image, p.preview.File, p.preview.Resource = nil, "", pictureResources[i]
	p.preview.Refresh()
	p.ok.Enable()
	p.view.Refresh()
}

// setChosen marks the gallery's picture i as chosen (-1: none).
func (p *avatarPicker) setChosen(i int) {
	p.chosen = i
	for j, c := range p.gallery {
		c.setSelected(j == i)
	}
}

// decodePicture reads a PNG, JPEG or GIF with the node's own bounded
// decoder (node/picture), refusing what is not a picture or too large to
// decode safely; problem says why in plain words.
func decodePicture(path string) (img image.Image, problem string) {
	f, err := os.Open(path)
	if err != nil {
		fyne.LogError("opening a picture", err) // the detail, for whoever reads the log
		return nil, lang.L("The picture could not be opened.")
	}
	defer f.Close()
	img, err = picture.Decode(f)
	switch {
	case errors.Is(err, picture.ErrTooLarge):
		return nil, lang.L("That picture is too large. Choose a smaller one.")
	case err != nil:
		return nil, lang.L("That file is not a picture EServer can read. Choose a PNG, JPEG or GIF file.")
	}
	return img, ""
}

// setCrop moves the square to c, kept inside the picture, and shows it.
func (p *avatarPicker) setCrop(c api.Crop) {
	if p.img == nil {
		return
	}
	b := p.img.Bounds()
	c.Size = max(int(p.size.Min), min(c.Size, b.Dx(), b.Dy()))
	c.X = max(0, min(c.X, b.Dx()-c.Size))
	c.Y = max(0, min(c.Y, b.Dy()-c.Size))
	p.crop = c

	p.updating = true
	defer func() { p.updating = false }()
	p.size.SetValue(float64(c.Size))
	p.size.Refresh() // its range may have changed with the picture
	setRange(p.x, b.Dx()-c.Size, c.X)
	setRange(p.y, b.Dy()-c.Size, c.Y)
	p.showSliders()

	p.preview.File, p.preview.Resource = "", nil
	p.preview.Image = cropImage(p.img, c)
	p.preview.Refresh()
	p.view.Refresh()
}

// setRange lets s choose 0..top, showing v; with nothing to choose it is
// disabled (a slider cannot span an empty range).
func setRange(s *widget.Slider, top, v int) {
	if top <= 0 {
		s.Min, s.Max = 0, 1
		s.SetValue(0)
		s.Disable()
		s.Refresh() // SetValue redraws only when the value changed
		return
	}
	s.Min, s.Max = 0, float64(top)
	s.SetValue(float64(v))
	s.Enable()
	s.Refresh()
}

// cropImage is the part of img that c keeps. Decoded pictures share their
// pixels with a sub-image, so moving the square copies nothing.
func cropImage(img image.Image, c api.Crop) image.Image {
	b := img.Bounds()
	r := image.Rect(b.Min.X+c.X, b.Min.Y+c.Y, b.Min.X+c.X+c.Size, b.Min.Y+c.Y+c.Size)
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	out := image.NewNRGBA(image.Rect(0, 0, c.Size, c.Size))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

// save sends the picture (path "" for the default) to the node and closes
// the window once it took it.
func (p *avatarPicker) save(path string, crop api.Crop) {
	a := p.app
	p.send(func(ctx context.Context) error { return a.api.SetAvatar(ctx, path, crop) })
}

// savePicture sends a gallery picture. The node takes pictures as files,
// so it is written to the app's storage first.
func (p *avatarPicker) savePicture(pic assets.Picture) {
	a := p.app
	p.send(func(ctx context.Context) error {
		path, err := a.pictureFile(pic)
		if err != nil {
			return fmt.Errorf("the picture could not be saved: %w", err)
		}
		return a.api.SetAvatar(ctx, path, api.Crop{})
	})
}

// send runs set, which gives the node our picture, off Fyne's goroutine;
// the window closes once it worked and says why when it did not.
func (p *avatarPicker) send(set func(ctx context.Context) error) {
	p.ok.Disable()
	p.reset.Disable()
	p.app.command(set, func(err error) {
		p.reset.Enable()
		if p.img != nil {
			p.ok.Enable()
		}
		if err != nil {
			p.fail(errorText(err))
			return
		}
		p.win.Hide()
		// The node's Account event brings the new picture's file.
	})
}

// pictureFile is the gallery picture's PNG as a file in the app's storage,
// named by its content: written the first time it is chosen, and again only
// if the file was changed since. It is written whole or not at all.
func (a *App) pictureFile(pic assets.Picture) (string, error) {
	sum := sha256.Sum256(pic.PNG)
	dir := filepath.Join(a.fyne.Storage().RootURI().Path(), "pictures")
	path := filepath.Join(dir, pic.Name+"-"+hex.EncodeToString(sum[:8])+".png")
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, pic.PNG) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".picture-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pic.PNG); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// fail shows why the picture could not be used.
func (p *avatarPicker) fail(text string) {
	p.errText.SetText(text)
	p.errText.Show()
}

// cropView shows the chosen picture with the part that will be cut away
// dimmed and the kept square outlined. Dragging moves the square;
// scrolling sizes it.
type cropView struct {
	widget.BaseWidget
	p      *avatarPicker
	pic    *canvas.Image
	shade  [4]*canvas.Rectangle // above, below, left and right of the square
	box    *canvas.Rectangle
	empty  *widget.Label // before a picture is chosen
	dragX  float32       // the square's position while dragging, in picture
	dragY  float32       // pixels, kept fractional so slow drags add up
	scale  float32       // view pixels per picture pixel, as laid out
	active bool          // a drag is under way
}

func newCropView(p *avatarPicker) *cropView {
	v := &cropView{p: p, pic: canvas.NewImageFromImage(nil)}
	v.pic.FillMode = canvas.ImageFillStretch
	v.pic.ScaleMode = canvas.ImageScaleSmooth
	for i := range v.shade {
		v.shade[i] = canvas.NewRectangle(color.NRGBA{0, 0, 0, 0x90})
	}
	v.box = canvas.NewRectangle(color.Transparent)
	v.box.StrokeColor = color.White
	v.box.StrokeWidth = 2
	v.empty = widget.NewLabelWithStyle(lang.L("Click here or Browse... to choose a picture."), fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
	v.empty.Wrapping = fyne.TextWrapWord
	v.ExtendBaseWidget(v)
	return v
}

func (v *cropView) CreateRenderer() fyne.WidgetRenderer {
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	bg.CornerRadius = theme.InputRadiusSize()
	return &cropRenderer{v: v, bg: bg}
}

// Tapped on an empty view chooses a picture, as the hint there says.
func (v *cropView) Tapped(*fyne.PointEvent) {
	if v.p.img == nil {
		v.p.chooseFile()
	}
}

// cropping says whether there is a square to move: a chosen file, not a
// gallery picture.
func (v *cropView) cropping() bool { return v.p.img != nil && v.p.chosen < 0 }

// Dragged moves the square with the pointer.
func (v *cropView) Dragged(ev *fyne.DragEvent) {
	p := v.p
	if !v.cropping() || v.scale == 0 {
		return
	}
	if !v.active {
		v.active = true
		v.dragX, v.dragY = float32(p.crop.X), float32(p.crop.Y)
	}
	b := p.img.Bounds()
	v.dragX = max(0, min(v.dragX+ev.Dragged.DX/v.scale, float32(b.Dx()-p.crop.Size)))
	v.dragY = max(0, min(v.dragY+ev.Dragged.DY/v.scale, float32(b.Dy()-p.crop.Size)))
	p.setCrop(api.Crop{X: int(v.dragX + 0.5), Y: int(v.dragY + 0.5), Size: p.crop.Size})
}

// DragEnd ends a drag.
func (v *cropView) DragEnd() { v.active = false }

// Scrolled sizes the square about its centre: up grows it.
func (v *cropView) Scrolled(ev *fyne.ScrollEvent) {
	p := v.p
	if !v.cropping() || ev.Scrolled.DY == 0 {
		return
	}
	step := max(1, int(p.size.Max/20))
	if ev.Scrolled.DY < 0 {
		step = -step
	}
	c := p.crop
	p.setCrop(api.Crop{X: c.X - step/2, Y: c.Y - step/2, Size: c.Size + step})
}

// Cursor shows the square can be moved.
func (v *cropView) Cursor() desktop.Cursor {
	if !v.cropping() {
		return desktop.DefaultCursor
	}
	return desktop.PointerCursor
}

// cropRenderer lays the picture out as large as fits, centred, and the
// square and shades over it. A gallery picture is shown whole, at most
// twice its size (it is small, and has nothing to crop).
type cropRenderer struct {
	v    *cropView
	bg   *canvas.Rectangle
	size fyne.Size
}

func (r *cropRenderer) Layout(size fyne.Size) {
	r.size = size
	v := r.v
	r.bg.Resize(size)
	v.empty.Resize(fyne.NewSize(size.Width, v.empty.MinSize().Height))
	v.empty.Move(fyne.NewPos(0, (size.Height-v.empty.MinSize().Height)/2))
	img := v.p.img
	if img == nil {
		return
	}
	b := img.Bounds()
	pad := theme.Padding()
	avail := size.SubtractWidthHeight(2*pad, 2*pad)
	v.scale = min(avail.Width/float32(b.Dx()), avail.Height/float32(b.Dy()))
	if !v.cropping() {
		v.scale = min(v.scale, 2)
	}
	shown := fyne.NewSize(float32(b.Dx())*v.scale, float32(b.Dy())*v.scale)
	o := fyne.NewPos((size.Width-shown.Width)/2, (size.Height-shown.Height)/2)
	v.pic.Move(o)
	v.pic.Resize(shown)

	// Whole pixels, so the shades meet without a darker seam where
	// antialiased edges would overlap.
	o = fyne.NewPos(round(o.X), round(o.Y))
	shown = fyne.NewSize(round(shown.Width), round(shown.Height))
	v.pic.Move(o)
	v.pic.Resize(shown)
	c := v.p.crop
	x0, y0 := round(o.X+float32(c.X)*v.scale), round(o.Y+float32(c.Y)*v.scale)
	side := round(float32(c.Size) * v.scale)
	x1, y1 := x0+side, y0+side
	place := func(r *canvas.Rectangle, left, top, right, bottom float32) {
		r.Move(fyne.NewPos(left, top))
		r.Resize(fyne.NewSize(max(0, right-left), max(0, bottom-top)))
	}
	place(v.shade[0], o.X, o.Y, o.X+shown.Width, y0)
	place(v.shade[1], o.X, y1, o.X+shown.Width, o.Y+shown.Height)
	place(v.shade[2], o.X, y0, x0, y1)
	place(v.shade[3], x1, y0, o.X+shown.Width, y1)
	place(v.box, x0, y0, x1, y1)
}

func round(f float32) float32 { return float32(math.Round(float64(f))) }

func (r *cropRenderer) MinSize() fyne.Size { return fyne.NewSquareSize(240) }

func (r *cropRenderer) Refresh() {
	v := r.v
	shown := v.p.img != nil
	if shown && v.pic.Image != v.p.img {
		v.pic.Image = v.p.img
		v.pic.Refresh()
	}
	for i, o := range r.overlay() {
		if shown && (i == 0 || v.cropping()) {
			o.Show()
		} else {
			o.Hide()
		}
	}
	if shown {
		v.empty.Hide()
	} else {
		v.empty.Show()
	}
	if !r.size.IsZero() {
		r.Layout(r.size)
	}
	for _, o := range r.Objects() {
		o.Refresh()
	}
}

// overlay is what shows only with a picture: the picture first, then
// what shows only when cropping.
func (r *cropRenderer) overlay() []fyne.CanvasObject {
	v := r.v
	return []fyne.CanvasObject{v.pic, v.shade[0], v.shade[1], v.shade[2], v.shade[3], v.box}
}

func (r *cropRenderer) Objects() []fyne.CanvasObject {
	return append([]fyne.CanvasObject{r.bg, r.v.empty}, r.overlay()...)
}

func (r *cropRenderer) Destroy() {}

// pictureResources are the gallery's pictures, wrapped for Fyne.
var pictureResources = func() []fyne.Resource {
	out := make([]fyne.Resource, len(assets.Pictures))
	for i, p := range assets.Pictures {
		out[i] = fyne.NewStaticResource(p.Name+".png", p.PNG)
	}
	return out
}()

// pictureChoice is one of the gallery's thumbnails: a picture that is
// highlighted under the pointer and framed when chosen.
type pictureChoice struct {
	widget.BaseWidget
	bg       *canvas.Rectangle
	img      *canvas.Image
	selected bool
	hovered  bool
	onTap    func()
}

func newPictureChoice(res fyne.Resource, onTap func()) *pictureChoice {
	c := &pictureChoice{onTap: onTap, img: canvas.NewImageFromResource(res), bg: canvas.NewRectangle(color.Transparent)}
	c.img.FillMode = canvas.ImageFillContain
	c.img.ScaleMode = canvas.ImageScaleSmooth
	c.img.SetMinSize(fyne.NewSquareSize(api.AvatarSize / 2))
	c.bg.CornerRadius = theme.InputRadiusSize()
	c.bg.StrokeWidth = 2
	c.ExtendBaseWidget(c)
	return c
}

func (c *pictureChoice) CreateRenderer() fyne.WidgetRenderer {
	c.paint()
	return widget.NewSimpleRenderer(container.NewStack(c.bg, container.NewPadded(c.img)))
}

// paint colours the background for the chosen and hovered states.
func (c *pictureChoice) paint() {
	c.bg.FillColor, c.bg.StrokeColor = color.Transparent, color.Transparent
	switch {
	case c.selected:
		c.bg.FillColor = theme.Color(theme.ColorNameSelection)
		c.bg.StrokeColor = theme.Color(theme.ColorNamePrimary)
	case c.hovered:
		c.bg.FillColor = theme.Color(theme.ColorNameHover)
	}
	c.bg.Refresh()
}

func (c *pictureChoice) setSelected(on bool) {
	if c.selected != on {
		c.selected = on
		c.paint()
	}
}

// Tapped chooses the picture.
func (c *pictureChoice) Tapped(*fyne.PointEvent) {
	if c.onTap != nil {
		c.onTap()
	}
}

func (c *pictureChoice) Cursor() desktop.Cursor { return desktop.PointerCursor }

func (c *pictureChoice) MouseIn(*desktop.MouseEvent)    { c.hovered = true; c.paint() }
func (c *pictureChoice) MouseMoved(*desktop.MouseEvent) {}
func (c *pictureChoice) MouseOut()                      { c.hovered = false; c.paint() }
