package app

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// File transfers in the chat window, as MSN showed them: a bar per file
// above the entry, with what can be done to it now — accept or decline an
// offer; pause, resume or cancel while it moves; open the folder when done.

// transferRow is one transfer's bar.
type transferRow struct {
	t        api.Transfer
	box      *fyne.Container
	label    *widget.Label
	bar      *widget.ProgressBar
	accept   *widget.Button
	decline  *widget.Button
	pause    *widget.Button
	resume   *widget.Button
	cancel   *widget.Button
	openDir  *widget.Button
	closeRow *widget.Button
	// preview shows an image file's thumbnail from its offer; nil for
	// other files.
	preview *canvas.Image
}

// sendFiles offers files to the contact (the Send a file button, or files
// dropped on the window).
func (c *chatWindow) sendFiles(paths []string) {
	for _, p := range paths {
		path := p
		c.app.command(func(ctx context.Context) error {
			_, err := c.app.api.SendFile(ctx, c.with, path)
			return err
		}, func(err error) {
			if err != nil {
				c.notice(fmt.Sprintf("Could not send %s: %s", filepath.Base(path), errorText(err)))
			}
		})
	}
}

// chooseFile is the Send a file button.
func (c *chatWindow) chooseFile() {
	dialog.ShowFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		c.sendFiles([]string{path})
	}, c.win)
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

// setTransfer shows t, adding its bar the first time.
func (c *chatWindow) setTransfer(t api.Transfer) {
	row := c.transferRows[t.ID]
	if row == nil {
		row = c.newTransferRow(t)
		c.transferRows[t.ID] = row
		c.transferBox.Add(row.box)
	}
	row.t = t
	row.show()
}

func (c *chatWindow) newTransferRow(t api.Transfer) *transferRow {
	r := &transferRow{t: t, label: widget.NewLabel(""), bar: widget.NewProgressBar()}
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
	r.accept = widget.NewButton("Accept", do(func(ctx context.Context, id string) error { return c.app.api.AcceptFile(ctx, id, "") }))
	r.accept.Importance = widget.HighImportance
	r.decline = widget.NewButton("Decline", do(c.app.api.DeclineFile))
	r.pause = widget.NewButton("Pause", do(c.app.api.PauseTransfer))
	r.resume = widget.NewButton("Resume", do(c.app.api.ResumeTransfer))
	r.cancel = widget.NewButton("Cancel", do(c.app.api.CancelTransfer))
	r.openDir = widget.NewButton("Open folder", func() { c.app.openFolder(r.t.Path) })
	r.closeRow = widget.NewButton("×", func() {
		c.transferBox.Remove(r.box)
		delete(c.transferRows, id)
	})
	r.closeRow.Importance = widget.LowImportance
	buttons := container.NewHBox(r.accept, r.decline, r.pause, r.resume, r.cancel, r.openDir, r.closeRow)
	var left fyne.CanvasObject
	if len(t.Thumbnail) > 0 {
		// The receiver sees the picture before accepting it, as MSN
		// showed a photo's preview in the invitation.
		r.preview = canvas.NewImageFromResource(fyne.NewStaticResource("preview-"+t.ID+".jpg", t.Thumbnail))
		r.preview.FillMode = canvas.ImageFillContain
		r.preview.SetMinSize(fyne.NewSize(48, 48))
		left = r.preview
	}
	r.box = container.NewBorder(nil, nil, left, buttons, container.NewVBox(r.label, r.bar))
	return r
}

// show brings the bar in line with r.t.
func (r *transferRow) show() {
	t := r.t
	dir := "from"
	if t.Outgoing {
		dir = "to"
	}
	text := fmt.Sprintf("%s (%s) %s %s — %s", t.Name, sizeText(t.Size), dir, t.Peer, stateText(t))
	r.label.SetText(text)
	if t.Size > 0 {
		r.bar.SetValue(float64(t.Bytes) / float64(t.Size))
	} else if t.State == api.TransferDone {
		r.bar.SetValue(1)
	}
	vis := func(w fyne.Widget, on bool) {
		if on {
			w.Show()
		} else {
			w.Hide()
		}
	}
	incoming := !t.Outgoing && t.State == api.TransferIncoming
	over := t.State == api.TransferDone || t.State == api.TransferCancelled || t.State == api.TransferDeclined || t.State == api.TransferFailed
	vis(r.accept, incoming)
	vis(r.decline, incoming)
	vis(r.pause, t.State == api.TransferActive || (t.Outgoing && t.State == api.TransferOffered))
	vis(r.resume, t.State == api.TransferPaused)
	vis(r.cancel, !over && !incoming)
	vis(r.openDir, t.State == api.TransferDone && !t.Outgoing && t.Path != "")
	vis(r.closeRow, over)
	vis(r.bar, !incoming && t.State != api.TransferOffered)
}

func stateText(t api.Transfer) string {
	switch t.State {
	case api.TransferOffered:
		return "waiting for an answer"
	case api.TransferIncoming:
		return "wants to send you this file"
	case api.TransferActive:
		if t.Outgoing && t.Bytes == 0 {
			return "sending"
		}
		if t.Rate > 0 {
			text := fmt.Sprintf("%s of %s, %s/s", sizeText(t.Bytes), sizeText(t.Size), sizeText(int64(t.Rate)))
			if t.ETA > 0 {
				text += ", " + etaText(t.ETA) + " left"
			}
			return text
		}
		return fmt.Sprintf("%s of %s", sizeText(t.Bytes), sizeText(t.Size))
	case api.TransferPaused:
		return "paused"
	case api.TransferDone:
		return "done"
	case api.TransferDeclined:
		return "declined"
	case api.TransferCancelled:
		return "cancelled"
	default:
		if t.Error != "" {
			return "failed: " + t.Error
		}
		return "failed"
	}
}

// etaText is a time left as people say it.
func etaText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()+0.5))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()+0.5))
	default:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
}

// sizeText is n bytes in the unit people read.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// openFolder shows the folder holding path in the desktop's file manager.
func (a *App) openFolder(path string) {
	u, err := url.Parse(storage.NewFileURI(filepath.Dir(path)).String())
	if err != nil {
		return
	}
	if err := a.fyne.OpenURL(u); err != nil {
		dialog.ShowInformation("EServer", "The folder could not be opened: "+err.Error(), a.main.win)
	}
}

// transfer shows a transfer in its conversation; an offer opens it.
func (a *App) transfer(t api.Transfer) {
	chat := a.chats[t.Peer]
	if chat == nil && !(t.State == api.TransferIncoming && !t.Outgoing) {
		return
	}
	chat = a.chat(t.Peer)
	chat.setTransfer(t)
	if t.State == api.TransferIncoming && !t.Outgoing {
		chat.show(false)
	}
	// "has arrived" is announced by alertFor (notify.go), as the settings allow.
}
