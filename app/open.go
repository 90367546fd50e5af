package app

import (
	"context"
	"net/url"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/storage"
)

// Opening what arrived — a received file, or the folder holding it — with
// the desktop's own programs: through Fyne's URL opening, and where that
// cannot (no xdg-open, say) through the freedesktop portal. When nothing
// opens it, the window the person clicked in says so in plain words and
// where the file is, instead of a raw error on another window.

// openPath opens path, or with folder the folder that holds it; problems
// are told on win.
func (a *App) openPath(win fyne.Window, path string, folder bool) {
	name, dir := filepath.Base(path), filepath.Dir(path)
	target := path
	if folder {
		target = dir
	}
	if !fileExists(target) {
		what := lang.L("{{.File}} is no longer in {{.Folder}}: it was moved or deleted.", map[string]any{"File": name, "Folder": dir})
		if folder {
			what = lang.L("The folder {{.Folder}} is no longer there.", map[string]any{"Folder": dir})
		}
		dialog.ShowInformation(lang.L("Not found"), what, win)
		return
	}
	a.command(func(context.Context) error {
		u, err := url.Parse(storage.NewFileURI(target).String())
		if err != nil {
			return err
		}
		if err = a.openURL(u); err == nil {
			return nil
		}
		if perr := a.portal(path, folder); perr == nil {
			return nil
		}
		return err
	}, func(err error) {
		if err == nil {
			return
		}
		fyne.LogError("opening "+target, err) // the detail, for whoever reads the log
		text := lang.L("Nothing on this computer could open {{.File}}. It is saved in {{.Folder}}.", map[string]any{"File": name, "Folder": dir})
		if folder {
			text = lang.L("Nothing on this computer could show the folder. {{.File}} is saved in {{.Folder}}.", map[string]any{"File": name, "Folder": dir})
		}
		dialog.ShowInformation(lang.L("Could not open"), text, win)
	})
}

// openLink opens a link from a message in the desktop's browser or mail
// program; problems are told on win.
func (a *App) openLink(win fyne.Window, u *url.URL) {
	a.command(func(context.Context) error { return a.openURL(u) }, func(err error) {
		if err != nil {
			fyne.LogError("opening "+u.String(), err)
			dialog.ShowInformation(lang.L("Could not open"),
				lang.L("Nothing on this computer could open the link {{.Link}}.", map[string]any{"Link": u.String()}), win)
		}
	})
}

// openFolder shows the folder holding path (Options' profile folder), with
// problems told on the Options window.
func (a *App) openFolder(path string) {
	win := a.main.win
	if a.settings != nil {
		win = a.settings.win
	}
	a.openPath(win, path, true)
}

// fileExists reports whether path names something that is there.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
