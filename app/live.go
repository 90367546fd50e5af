package app

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// Live streams in the chat window: "Stream a file" sends a file as it grows
// (a recording in progress, a log) until the user stops it; a contact's
// live stream shows with a LIVE mark and can be saved as it arrives.

// livePoll is how often a live file is looked at for new bytes once its
// end was reached.
var livePoll = 200 * time.Millisecond

// liveRow is one live stream's bar.
type liveRow struct {
	box    *fyne.Container
	label  *widget.Label
	accept *widget.Button // incoming: save it
	stop   *widget.Button // outgoing: end it; incoming: stop saving
	bytes  atomic.Int64
	cancel context.CancelFunc
}

// chooseLive is the Stream a file button; the picker says what it does.
func (c *chatWindow) chooseLive() {
	pickFile(c.win, lang.L("Stream a file as it grows (a recording, a log) until you stop it"), lang.L("Stream"), "", nil, c.sendLive)
}

// liveEnded takes a stream's row out of the tray and tells how it ended
// in the conversation, as finished transfers are.
func (c *chatWindow) liveEnded(row *liveRow, text string, imp widget.Importance) {
	c.tray.remove(row.box)
	c.line(text, c.clock.Now(), imp)
}

// sendLive streams path to the contact, following it as it grows, until
// Stop.
func (c *chatWindow) sendLive(path string) {
	name := filepath.Base(path)
	row := c.newLiveRow(lang.L("● LIVE sending {{.File}} to {{.Name}}", map[string]any{"File": name, "Name": c.app.nameOf(c.with)}))
	ctx, cancel := context.WithCancel(c.app.ctx)
	row.cancel = cancel
	row.stop.OnTapped = cancel
	row.stop.Show()
	c.app.wg.Go(func() {
		defer cancel()
		err := c.streamFile(ctx, path, name, row)
		c.app.uiDo(func() {
			if err != nil {
				c.liveEnded(row, lang.L("Streaming {{.File}} to {{.Name}} stopped: {{.Reason}}", map[string]any{
					"File": name, "Name": c.app.nameOf(c.with), "Reason": errorText(err)}), widget.DangerImportance)
				return
			}
			c.liveEnded(row, lang.L("Streamed {{.File}} to {{.Name}} ({{.Size}}).", map[string]any{
				"File": name, "Name": c.app.nameOf(c.with), "Size": sizeText(row.bytes.Load())}), widget.MediumImportance)
		})
	})
}

// streamFile copies path into a live stream, waiting for more at its end,
// until ctx ends; then it closes the stream cleanly.
func (c *chatWindow) streamFile(ctx context.Context, path, label string, row *liveRow) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, w, err := c.app.api.OpenStream(ctx, c.with, label)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				w.Close()
				return err
			}
			total := row.bytes.Add(int64(n))
			c.app.uiDo(func() {
				row.label.SetText(lang.L("● LIVE sending {{.File}} — {{.Size}}", map[string]any{"File": label, "Size": sizeText(total)}))
			})
			continue
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			w.Close()
			return rerr
		}
		select {
		case <-ctx.Done():
			return w.Close()
		case <-time.After(livePoll):
		}
	}
}

func (c *chatWindow) newLiveRow(text string) *liveRow {
	r := &liveRow{label: widget.NewLabel(text), accept: widget.NewButton(lang.L("Save"), nil), stop: widget.NewButton(lang.L("Stop"), nil)}
	r.label.Importance = widget.DangerImportance // the red of a recording light
	r.accept.Importance = widget.HighImportance
	r.accept.Hide()
	r.stop.Hide()
	r.box = container.NewBorder(nil, nil, nil, container.NewHBox(r.accept, r.stop), r.label)
	c.liveRows = append(c.liveRows, r)
	c.tray.add(r.box)
	return r
}

// liveIncoming shows a contact's live stream; Save takes it into the
// download folder as it arrives.
func (a *App) liveIncoming(ev api.StreamEvent) {
	chat := a.chat(ev.From)
	label := ev.Label
	if label == "" {
		label = lang.L("live stream")
	}
	row := chat.newLiveRow(lang.L("● LIVE {{.Name}} is sending {{.File}}", map[string]any{"Name": a.nameOf(ev.From), "File": label}))
	row.accept.Show()
	row.accept.OnTapped = func() {
		row.accept.Hide()
		ctx, cancel := context.WithCancel(a.ctx)
		row.cancel = cancel
		row.stop.OnTapped = cancel
		row.stop.Show()
		a.wg.Go(func() {
			defer cancel()
			path, err := a.saveLive(ctx, ev, label, row)
			a.uiDo(func() {
				if err != nil && !errors.Is(err, context.Canceled) {
					chat.liveEnded(row, lang.L("{{.File}} from {{.Name}} stopped: {{.Reason}}", map[string]any{
						"File": label, "Name": a.nameOf(ev.From), "Reason": errorText(err)}), widget.DangerImportance)
					return
				}
				chat.liveEnded(row, lang.L("Saved {{.File}} from {{.Name}} in {{.Path}} ({{.Size}}).", map[string]any{
					"File": label, "Name": a.nameOf(ev.From), "Path": path, "Size": sizeText(row.bytes.Load())}), widget.MediumImportance)
			})
		})
	}
	chat.show(false)
}

// saveLive writes an incoming stream to a new file in the download folder.
func (a *App) saveLive(ctx context.Context, ev api.StreamEvent, label string, row *liveRow) (string, error) {
	r, err := a.api.AcceptStream(ctx, ev.ID)
	if err != nil {
		return "", err
	}
	defer r.Close()
	stop := context.AfterFunc(ctx, func() { r.Close() })
	defer stop()
	dir := downloadFolder()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, filepath.Base(label)+".*.live")
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return f.Name(), err
			}
			total := row.bytes.Add(int64(n))
			a.uiDo(func() {
				row.label.SetText(lang.L("● LIVE {{.File}} from {{.Name}} — {{.Size}}", map[string]any{"File": label, "Name": a.nameOf(ev.From), "Size": sizeText(total)}))
			})
		}
		if errors.Is(rerr, io.EOF) {
			return f.Name(), f.Sync()
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return f.Name(), f.Sync() // the user stopped saving
			}
			return f.Name(), rerr
		}
	}
}

// downloadFolder is where the app saves what arrives: ~/Downloads.
func downloadFolder() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "Downloads") // not translated: the folder's name on disk
	}
	return os.TempDir()
}
