package app

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// File transfers in the chat window. What is still moving — an offer
// waiting for an answer, a file on its way, a live stream — sits in one
// compact tray above the entry, a line per transfer, never taller than
// trayMaxHeight however many there are. A transfer that is over leaves the
// tray for a line in the conversation, where it stays in order with the
// messages: "photo.png (19 KB) received from Bob, saved in … — Open · Show
// in folder".

// trayMaxHeight caps the tray: about two rows; more scroll inside it.
const trayMaxHeight = 72

// transferTray is the strip of transfers and streams in progress.
type transferTray struct {
	box  *fyne.Container // the rows, oldest first
	view *fyne.Container // box in a capped scroll; hidden while empty
	rows map[string]*transferRow
	// told are the transfers whose end the conversation already shows,
	// so a repeated final event adds no second line.
	told map[string]bool
}

func newTransferTray() *transferTray {
	t := &transferTray{box: container.NewVBox(), rows: map[string]*transferRow{}, told: map[string]bool{}}
	// No theme override for tighter padding: Fyne would load the fonts a
	// second time for it (see TestNoThemeOverride).
	t.view = container.New(&capLayout{max: trayMaxHeight}, container.NewVScroll(t.box))
	t.view.Hide()
	return t
}

// add puts a row at the end of the tray.
func (t *transferTray) add(o fyne.CanvasObject) {
	t.box.Add(o)
	t.refresh()
}

// remove takes a row out of the tray.
func (t *transferTray) remove(o fyne.CanvasObject) {
	t.box.Remove(o)
	t.refresh()
}

// refresh shows the tray only while it holds something.
func (t *transferTray) refresh() {
	if len(t.box.Objects) == 0 {
		t.view.Hide()
	} else {
		t.view.Show()
	}
	t.view.Refresh()
}

// capLayout gives its one object its natural height up to max, and lets a
// scroll inside take the rest.
type capLayout struct{ max float32 }

func (l *capLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

func (l *capLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var min fyne.Size
	for _, o := range objs {
		m := o.MinSize()
		if s, ok := o.(*container.Scroll); ok {
			m = s.Content.MinSize() // as tall as the rows, up to max
		}
		min = min.Max(fyne.NewSize(m.Width, fyne.Min(m.Height, l.max)))
	}
	return min
}

// transferRow is one transfer's line in the tray.
type transferRow struct {
	t       api.Transfer
	box     *fyne.Container
	label   *widget.Label
	bar     *thinBar
	accept  *widget.Button
	decline *widget.Button
	pause   *widget.Button
	resume  *widget.Button
	cancel  *widget.Button
	// preview shows an image file's thumbnail from its offer; nil for
	// other files.
	preview *canvas.Image
	// answered: we accepted or declined the offer and wait for the node to
	// say so; a second answer (a double click, Alt+C twice) would fail.
	answered bool
}

// sendFiles offers files to the contact (the Send a file button, or files
// dropped on the window); in a multi-party conversation, to each member.
func (c *chatWindow) sendFiles(paths []string) {
	to := []string{c.with}
	if api.IsConversation(c.with) {
		to = nil
		for _, m := range c.app.conversations[c.with].Members {
			if m != c.app.me() {
				to = append(to, m)
			}
		}
	}
	for _, path := range paths {
		for _, peer := range to {
			c.app.sendFile(c, peer, path)
		}
	}
}

// sendFile offers path to peer from window c, which shows the transfer
// even when it is not peer's own window (a multi-party conversation).
func (a *App) sendFile(c *chatWindow, peer, path string) {
	key := pendingSend{peer, filepath.Base(path)}
	a.sending[key] = c // the node may report the offer before SendFile returns
	var id string
	a.command(func(ctx context.Context) error {
		var err error
		id, err = a.api.SendFile(ctx, peer, path)
		return err
	}, func(err error) {
		if a.sending[key] == c {
			delete(a.sending, key)
		}
		if err != nil {
			c.notice(lang.L("Could not send {{.File}} to {{.Name}}: {{.Error}}", map[string]any{
				"File": filepath.Base(path), "Name": a.nameOf(peer), "Error": errorText(err),
			}))
			return
		}
		if _, ok := a.transferWins[id]; !ok && !c.tray.told[id] {
			a.transferWins[id] = c
		}
	})
}

// pendingSend is a file being offered whose transfer ID is not known yet.
type pendingSend struct{ peer, name string }

// chooseFile is the Send a file button.
func (c *chatWindow) chooseFile() {
	pickFile(c.win, lang.L("Send a file"), lang.L("Send"), "", nil, func(path string) { c.sendFiles([]string{path}) })
}

// dropped takes files dropped on the window.
func (c *chatWindow) dropped(_ fyne.Position, uris []fyne.URI) {
	var paths []string
	for _, u := range uris {
		if u.Scheme() == "file" {
			paths = append(paths, u.Path())
		}
	}
	c.sendFiles(paths)
}

// over reports whether a transfer in state st has ended.
func transferOver(st api.TransferState) bool {
	return st == api.TransferDone || st == api.TransferCancelled || st == api.TransferDeclined || st == api.TransferFailed
}

// setTransfer shows t: in the tray while it moves, as a line in the
// conversation once it is over.
func (c *chatWindow) setTransfer(t api.Transfer) {
	row := c.tray.rows[t.ID]
	if transferOver(t.State) {
		if row != nil {
			c.tray.remove(row.box)
			delete(c.tray.rows, t.ID)
		}
		if !c.tray.told[t.ID] {
			c.tray.told[t.ID] = true
			c.transferEnded(t)
		}
		return
	}
	if row == nil {
		row = c.newTransferRow(t)
		c.tray.rows[t.ID] = row
		c.tray.add(row.box)
	}
	row.t = t
	row.show(c.app)
}

func (c *chatWindow) newTransferRow(t api.Transfer) *transferRow {
	r := &transferRow{t: t, label: widget.NewLabel(""), bar: newThinBar()}
	r.label.Truncation = fyne.TextTruncateEllipsis
	id := t.ID
	do := func(call func(context.Context, string) error) func() {
		return func() {
			c.app.command(func(ctx context.Context) error { return call(ctx, id) }, func(err error) {
				if err != nil {
					c.notice(errorText(err))
				}
			})
		}
	}
	answer := func(call func(context.Context, string) error) func() {
		return func() {
			if r.answered {
				return
			}
			r.answered = true
			r.show(c.app)
			c.app.command(func(ctx context.Context) error { return call(ctx, id) }, func(err error) {
				if err != nil {
					r.answered = false
					r.show(c.app)
					c.notice(errorText(err))
				}
			})
		}
	}
	r.accept = widget.NewButton("", answer(func(ctx context.Context, id string) error { return c.app.api.AcceptFile(ctx, id, "") }))
	r.accept.Importance = widget.HighImportance
	r.decline = widget.NewButton("", answer(c.app.api.DeclineFile))
	// Alt+C and Alt+D, as MSN showed them: "Accept (Alt+C)".
	r.accept.SetText(lang.L("Accept (Alt+C)"))
	r.decline.SetText(lang.L("Decline (Alt+D)"))
	r.pause = widget.NewButtonWithIcon("", theme.MediaPauseIcon(), do(c.app.api.PauseTransfer))
	r.resume = widget.NewButtonWithIcon("", theme.MediaPlayIcon(), do(c.app.api.ResumeTransfer))
	r.cancel = widget.NewButtonWithIcon("", theme.CancelIcon(), do(c.app.api.CancelTransfer))
	for _, b := range []*widget.Button{r.pause, r.resume, r.cancel} {
		b.Importance = widget.LowImportance
	}
	buttons := container.NewHBox(r.accept, r.decline, r.pause, r.resume, r.cancel)
	var left fyne.CanvasObject
	if len(t.Thumbnail) > 0 {
		// The receiver sees the picture before accepting it, as MSN
		// showed a photo's preview in the invitation.
		r.preview = canvas.NewImageFromResource(fyne.NewStaticResource("preview-"+t.ID+".jpg", t.Thumbnail))
		r.preview.FillMode = canvas.ImageFillContain
		r.preview.SetMinSize(fyne.NewSize(48, 40))
		left = r.preview
	} else {
		left = widget.NewIcon(theme.FileIcon())
	}
	// The bar sits under the text, close enough to read as one line.
	text := container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()), r.label, container.NewPadded(r.bar))
	r.box = container.NewBorder(nil, nil, left, buttons, text)
	return r
}

// show brings the row in line with r.t.
func (r *transferRow) show(a *App) {
	t := r.t
	file := fileText(t)
	if t.Bytes > 0 && (t.State == api.TransferActive || t.State == api.TransferPaused) {
		// The progress says the size already; the row has one line.
		file = t.Name
	}
	if t.Outgoing {
		r.label.SetText(lang.L("{{.File}} to {{.Name}} — {{.State}}", map[string]any{"File": file, "Name": a.nameOf(t.Peer), "State": stateText(t)}))
	} else {
		r.label.SetText(lang.L("{{.File}} from {{.Name}} — {{.State}}", map[string]any{"File": file, "Name": a.nameOf(t.Peer), "State": stateText(t)}))
	}
	if t.Size > 0 {
		r.bar.SetValue(float64(t.Bytes) / float64(t.Size))
	}
	vis := func(w fyne.CanvasObject, on bool) {
		if on {
			w.Show()
		} else {
			w.Hide()
		}
	}
	incoming := !t.Outgoing && t.State == api.TransferIncoming
	if incoming && r.answered {
		r.label.SetText(lang.L("{{.File}} from {{.Name}}", map[string]any{"File": fileText(t), "Name": a.nameOf(t.Peer)}))
	}
	vis(r.accept, incoming && !r.answered)
	vis(r.decline, incoming && !r.answered)
	vis(r.pause, t.State == api.TransferActive || (t.Outgoing && t.State == api.TransferOffered))
	vis(r.resume, t.State == api.TransferPaused)
	vis(r.cancel, !incoming)
	vis(r.bar, !incoming && t.State != api.TransferOffered)
}

// fileText names a transfer's file with its size: "photo.png (19 KB)".
func fileText(t api.Transfer) string {
	return fmt.Sprintf("%s (%s)", t.Name, sizeText(t.Size))
}

// stateText says where transfer t stands, after its name in the tray. A
// failure's cause is the node's own words, for the log, not the row.
func stateText(t api.Transfer) string {
	done, size := sizeText(t.Bytes), sizeText(t.Size)
	switch t.State {
	case api.TransferOffered:
		return lang.L("waiting for an answer")
	case api.TransferIncoming:
		return lang.L("wants to send you this file")
	case api.TransferActive:
		if t.Outgoing && t.Bytes == 0 {
			return lang.L("sending")
		}
		if t.Rate > 0 {
			rate := sizeText(int64(t.Rate))
			if t.ETA > 0 {
				return lang.L("{{.Done}} of {{.Size}}, {{.Rate}}/s, {{.Left}} left", map[string]any{
					"Done": done, "Size": size, "Rate": rate, "Left": etaText(t.ETA),
				})
			}
			return lang.L("{{.Done}} of {{.Size}}, {{.Rate}}/s", map[string]any{"Done": done, "Size": size, "Rate": rate})
		}
		return lang.L("{{.Done}} of {{.Size}}", map[string]any{"Done": done, "Size": size})
	case api.TransferPaused:
		if t.Bytes > 0 {
			return lang.L("paused at {{.Done}} of {{.Size}}", map[string]any{"Done": done, "Size": size})
		}
		return lang.L("paused")
	case api.TransferDone:
		return lang.L("done")
	case api.TransferDeclined:
		return lang.L("declined")
	case api.TransferCancelled:
		return lang.L("cancelled")
	default:
		return lang.L("failed")
	}
}

// MSN's keys for a file invitation: Alt+C accepts the newest offer waiting
// for an answer, Alt+D declines it.
var (
	acceptShortcut  = &desktop.CustomShortcut{KeyName: fyne.KeyC, Modifier: fyne.KeyModifierAlt}
	declineShortcut = &desktop.CustomShortcut{KeyName: fyne.KeyD, Modifier: fyne.KeyModifierAlt}
)

func (c *chatWindow) addOfferShortcuts() {
	c.entry.others = map[string]func(){}
	for s, pick := range map[*desktop.CustomShortcut]func(*transferRow) *widget.Button{
		acceptShortcut:  func(r *transferRow) *widget.Button { return r.accept },
		declineShortcut: func(r *transferRow) *widget.Button { return r.decline },
	} {
		do := func() {
			if r := c.newestOffer(); r != nil {
				pick(r).OnTapped()
			}
		}
		c.entry.others[s.ShortcutName()] = do
		c.win.Canvas().AddShortcut(s, func(fyne.Shortcut) { do() })
	}
}

// newestOffer is the tray's newest offer waiting for our answer, or nil.
func (c *chatWindow) newestOffer() *transferRow {
	objs := c.tray.box.Objects
	for i := len(objs) - 1; i >= 0; i-- {
		for _, r := range c.tray.rows {
			if r.box == objs[i] && !r.t.Outgoing && r.t.State == api.TransferIncoming && !r.answered {
				return r
			}
		}
	}
	return nil
}

// transferLine is a finished transfer told in the conversation.
type transferLine struct {
	text *widget.RichText
	// open and folder are the links of a received file; nil otherwise.
	open, folder *widget.HyperlinkSegment
}

// transferWords says how transfer t ended: "photo.png (19 KB) received
// from Bob.". failed is true when it did not go through. The chat and the
// history viewer say it alike.
func (a *App) transferWords(t api.Transfer) (say string, failed bool) {
	file, name := fileText(t), a.nameOf(t.Peer)
	switch {
	case t.State == api.TransferDone && t.Outgoing:
		return lang.L("{{.File}} sent to {{.Name}}.", map[string]any{"File": file, "Name": name}), false
	case t.State == api.TransferDone:
		return lang.L("{{.File}} received from {{.Name}}.", map[string]any{"File": file, "Name": name}), false
	case t.State == api.TransferDeclined && t.Outgoing:
		return lang.L("{{.Name}} declined {{.File}}.", map[string]any{"File": file, "Name": name}), false
	case t.State == api.TransferDeclined:
		return lang.L("You declined {{.File}} from {{.Name}}.", map[string]any{"File": file, "Name": name}), false
	case t.State == api.TransferCancelled:
		return lang.L("The transfer of {{.File}} was cancelled.", map[string]any{"File": file}), false
	case t.Outgoing:
		return lang.L("{{.File}} could not be sent to {{.Name}}.", map[string]any{"File": file, "Name": name}), true
	default:
		return lang.L("{{.File}} could not be received from {{.Name}}.", map[string]any{"File": file, "Name": name}), true
	}
}

// transferEnded tells in the conversation how transfer t ended.
func (c *chatWindow) transferEnded(t api.Transfer) {
	c.addItem(c.transferItem(t, c.clock.Now()))
}

// transferItem is the line telling how transfer t ended, at when.
func (c *chatWindow) transferItem(t api.Transfer, when time.Time) *chatItem {
	l := &transferLine{}
	var where string
	imp := widget.MediumImportance
	say, failed := c.app.transferWords(t)
	switch {
	case failed:
		imp = widget.DangerImportance
		if t.Error != "" {
			// The node's words, for whoever reads the log; the line says it in the user's.
			fyne.LogError("transfer "+t.ID+" failed", errors.New(t.Error))
		}
	case t.State == api.TransferDone && !t.Outgoing && t.Path != "":
		// The links first, where a long folder cannot push them out of
		// the line; the folder on its own line below.
		say = lang.L("{{.File}} received from {{.Name}}", map[string]any{"File": fileText(t), "Name": c.app.nameOf(t.Peer)}) + " — "
		where = lang.L("Saved in {{.Folder}}", map[string]any{"Folder": filepath.Dir(t.Path)})
		path := t.Path
		l.open = &widget.HyperlinkSegment{Text: lang.L("Open"), OnTapped: func() { c.app.openPath(c.win, path, false) }}
		l.folder = &widget.HyperlinkSegment{Text: lang.L("Show in folder"), OnTapped: func() { c.app.openPath(c.win, path, true) }}
	}
	style := widget.RichTextStyleInline
	if imp == widget.DangerImportance {
		style.ColorName = theme.ColorNameError
	}
	segs := []widget.RichTextSegment{&widget.TextSegment{Text: say, Style: style}}
	if l.open != nil {
		segs = append(segs, l.open, &widget.TextSegment{Text: " · ", Style: widget.RichTextStyleInline}, l.folder,
			&widget.TextSegment{Style: widget.RichTextStyleParagraph}) // ends the line
	}
	if where != "" {
		st := widget.RichTextStyleParagraph
		st.ColorName = theme.ColorNamePlaceHolder
		segs = append(segs, &widget.TextSegment{Text: where, Style: st})
	}
	l.text = widget.NewRichText(segs...)
	l.text.Wrapping = fyne.TextWrapWord
	var icon fyne.CanvasObject = widget.NewIcon(theme.FileIcon())
	if len(t.Thumbnail) > 0 && t.State == api.TransferDone {
		img := canvas.NewImageFromResource(fyne.NewStaticResource("done-"+t.ID+".jpg", t.Thumbnail))
		img.FillMode = canvas.ImageFillContain
		img.SetMinSize(fyne.NewSquareSize(32))
		icon = img
	}
	box := container.NewBorder(nil, nil, container.NewCenter(icon), nil, l.text)
	note := l.text.String()
	if where != "" {
		note = strings.TrimSuffix(note, where) + "\n" + where
	}
	return &chatItem{when: when, box: box, note: note, transfer: l}
}

// transfer shows a transfer in the window that shows it already, or in its
// contact's conversation; an offer opens that.
func (a *App) transfer(t api.Transfer) {
	chat := a.transferWins[t.ID]
	if chat == nil && t.Outgoing {
		key := pendingSend{t.Peer, t.Name}
		if w := a.sending[key]; w != nil {
			chat = w
			delete(a.sending, key)
		}
	}
	if chat == nil {
		chat = a.chats[t.Peer]
	}
	incoming := t.State == api.TransferIncoming && !t.Outgoing
	if chat == nil && incoming {
		chat = a.chat(t.Peer)
	}
	if chat == nil {
		return
	}
	if transferOver(t.State) {
		delete(a.transferWins, t.ID)
	} else {
		a.transferWins[t.ID] = chat
	}
	chat.setTransfer(t)
	if incoming {
		chat.show(false)
	}
	// "has arrived" is announced by alertFor (notify.go), as the settings allow.
}

// forgetTransfers drops what routes transfers to windows (signing out).
func (a *App) forgetTransfers() {
	a.transferWins = map[string]*chatWindow{}
	a.sending = map[pendingSend]*chatWindow{}
}

// thinBar is a progress bar a few pixels high, to sit under a line of text.
type thinBar struct {
	widget.BaseWidget
	Value float64 // 0 to 1
}

func newThinBar() *thinBar {
	b := &thinBar{}
	b.ExtendBaseWidget(b)
	return b
}

// SetValue shows progress v, from 0 to 1.
func (b *thinBar) SetValue(v float64) {
	b.Value = max(0, min(1, v))
	b.Refresh()
}

func (b *thinBar) CreateRenderer() fyne.WidgetRenderer {
	r := &thinBarRenderer{b: b, track: canvas.NewRectangle(color.Transparent), fill: canvas.NewRectangle(color.Transparent)}
	r.track.CornerRadius, r.fill.CornerRadius = 2, 2
	r.Refresh()
	return r
}

type thinBarRenderer struct {
	b           *thinBar
	track, fill *canvas.Rectangle
}

func (r *thinBarRenderer) Layout(size fyne.Size) {
	r.track.Resize(size)
	r.fill.Resize(fyne.NewSize(size.Width*float32(r.b.Value), size.Height))
}

func (r *thinBarRenderer) MinSize() fyne.Size { return fyne.NewSize(40, 4) }

func (r *thinBarRenderer) Refresh() {
	r.track.FillColor = theme.ColorForWidget(theme.ColorNameInputBorder, r.b)
	r.fill.FillColor = theme.ColorForWidget(theme.ColorNamePrimary, r.b)
	r.Layout(r.b.Size())
	r.track.Refresh()
	r.fill.Refresh()
}

func (r *thinBarRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.track, r.fill} }
func (r *thinBarRenderer) Destroy()                     {}
