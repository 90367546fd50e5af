package app

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// fileChooser is the app's file and folder picker, inside the window that
// asked. Fyne's own has no box to type a path in, which is how people who
// know where a file is get there fastest (and the only way to a hidden
// folder); this one has it on top: Enter on a folder goes there, on a file
// picks it, and a path that leads nowhere says so in words. Below, the
// folder's contents: a click on a folder opens it, on a file selects it.
type fileChooser struct {
	win     fyne.Window
	dlg     *dialog.CustomDialog
	folders bool     // choose a folder, not a file
	exts    []string // the file extensions offered, lower case with the dot; nil: all
	dir     string   // the folder listed

	path    *widget.Entry  // the folder listed or the file selected; type a path
	problem *widget.Label  // what was wrong with the last path, hidden when nothing
	up      *widget.Button // to the folder above
	list    *widget.List
	items   []chooserItem // dir's folders, then its files, by name
	choose  *widget.Button
	content *fyne.Container // all of the above

	onChosen func(path string)
}

// chooserItem is one entry of the folder listed.
type chooserItem struct {
	name   string
	folder bool
}

// pickFile asks for a file in win (with one of exts, when given),
// starting in dir (the home folder when empty), and hands its path to
// onChosen; title says what it is for, confirm names the button.
func pickFile(win fyne.Window, title, confirm, dir string, exts []string, onChosen func(string)) *fileChooser {
	var lower []string
	for _, e := range exts {
		lower = append(lower, strings.ToLower(e))
	}
	c := newFileChooser(win, title, confirm, false, dir, lower, onChosen)
	c.show()
	return c
}

// pickFolder asks for a folder in win, starting in dir.
func pickFolder(win fyne.Window, title, dir string, onChosen func(string)) *fileChooser {
	c := newFileChooser(win, title, lang.L("Choose"), true, dir, nil, onChosen)
	c.show()
	return c
}

func newFileChooser(win fyne.Window, title, confirm string, folders bool, dir string, exts []string, onChosen func(string)) *fileChooser {
	c := &fileChooser{win: win, folders: folders, exts: exts, onChosen: onChosen}
	c.path = widget.NewEntry()
	c.path.SetPlaceHolder(lang.L("Type a path and press Enter"))
	c.path.OnSubmitted = func(text string) { c.enter(text, false) }
	c.problem = widget.NewLabel("")
	c.problem.Importance = widget.DangerImportance
	c.problem.Wrapping = fyne.TextWrapWord
	c.problem.Hide()
	c.up = widget.NewButtonWithIcon("", theme.MoveUpIcon(), func() { c.goTo(filepath.Dir(c.dir)) })
	c.list = widget.NewList(
		func() int { return len(c.items) },
		func() fyne.CanvasObject {
			return container.NewBorder(nil, nil, widget.NewIcon(theme.FolderIcon()), nil, widget.NewLabel(""))
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(c.items) {
				return
			}
			it := c.items[id]
			row := o.(*fyne.Container)
			row.Objects[0].(*widget.Label).SetText(it.name)
			icon := theme.FileIcon()
			if it.folder {
				icon = theme.FolderIcon()
			}
			row.Objects[1].(*widget.Icon).SetResource(icon)
		},
	)
	c.list.OnSelected = func(id widget.ListItemID) {
		if id >= len(c.items) {
			return
		}
		it := c.items[id]
		full := filepath.Join(c.dir, it.name)
		if it.folder {
			c.goTo(full)
			return
		}
		c.path.SetText(full)
		c.say("")
	}
	c.choose = widget.NewButton(confirm, func() { c.enter(c.path.Text, true) })
	c.choose.Importance = widget.HighImportance
	top := container.NewVBox(container.NewBorder(nil, nil, c.up, nil, c.path), c.problem)
	c.content = container.NewBorder(top, nil, nil, nil, c.list)
	c.dlg = dialog.NewCustomWithoutButtons(title, c.content, win)
	c.dlg.SetButtons([]fyne.CanvasObject{widget.NewButton(lang.L("Cancel"), c.dlg.Hide), c.choose})

	if dir == "" {
		dir, _ = os.UserHomeDir()
	}
	if dir == "" {
		dir = string(filepath.Separator)
	}
	c.goTo(dir)
	return c
}

// show opens the chooser over most of its window, the path box focused.
func (c *fileChooser) show() {
	size := c.win.Canvas().Size()
	c.dlg.Resize(fyne.NewSize(max(size.Width*0.9, 420), max(size.Height*0.9, 360)))
	c.dlg.Show()
	c.win.Canvas().Focus(c.path)
}

// enter acts on a typed path: a folder is listed (or, choosing a folder
// with the button, chosen), a file is chosen; anything else is explained.
func (c *fileChooser) enter(text string, button bool) {
	p := c.resolve(text)
	if p == "" {
		if c.folders && button {
			c.pick(c.dir)
		}
		return
	}
	info, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.say(lang.L("There is no file or folder at {{.Path}}.", map[string]any{"Path": p}))
	case errors.Is(err, fs.ErrPermission):
		c.say(lang.L("You do not have permission to open {{.Path}}.", map[string]any{"Path": p}))
	case err != nil:
		c.say(lang.L("{{.Path}} cannot be opened.", map[string]any{"Path": p}))
	case info.IsDir() && c.folders && button:
		c.pick(p)
	case info.IsDir():
		c.goTo(p)
	case c.folders:
		c.say(lang.L("{{.Path}} is a file: choose a folder.", map[string]any{"Path": p}))
	case !c.offered(p):
		c.say(lang.L("{{.File}} is not a kind of file this can use: choose a {{.Kinds}} file.", map[string]any{
			"File": filepath.Base(p), "Kinds": strings.Join(c.exts, ", "),
		}))
	default:
		c.pick(p)
	}
}

// resolve makes a typed path absolute: ~ is the home folder, and a
// relative path is relative to the folder listed. "" for nothing typed.
func (c *fileChooser) resolve(text string) string {
	p := strings.TrimSpace(text)
	if p == "" {
		return ""
	}
	if p == "~" || strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.dir, p)
	}
	return filepath.Clean(p)
}

// offered reports whether p has one of the extensions offered.
func (c *fileChooser) offered(p string) bool {
	return c.exts == nil || slices.Contains(c.exts, strings.ToLower(filepath.Ext(p)))
}

// goTo lists folder dir. One that cannot be read is explained, and the
// folder listed stays.
func (c *fileChooser) goTo(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			c.say(lang.L("You do not have permission to open {{.Path}}.", map[string]any{"Path": dir}))
		} else {
			c.say(lang.L("{{.Path}} cannot be opened.", map[string]any{"Path": dir}))
		}
		return
	}
	var items []chooserItem
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // hidden: type its path to go there
		}
		folder, regular := e.IsDir(), e.Type().IsRegular()
		if e.Type()&fs.ModeSymlink != 0 {
			if info, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
				folder, regular = info.IsDir(), info.Mode().IsRegular()
			}
		}
		// Files only when choosing one, of a kind offered; no devices,
		// sockets or pipes.
		if !folder && (!regular || c.folders || !c.offered(e.Name())) {
			continue
		}
		items = append(items, chooserItem{name: e.Name(), folder: folder})
	}
	slices.SortFunc(items, func(a, b chooserItem) int {
		if a.folder != b.folder {
			if a.folder {
				return -1
			}
			return 1
		}
		return cmp.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	})
	c.dir, c.items = dir, items
	c.path.SetText(dir)
	c.path.CursorColumn = len([]rune(dir))
	c.say("")
	c.list.UnselectAll()
	c.list.Refresh()
	c.list.ScrollToTop()
	if filepath.Dir(dir) == dir {
		c.up.Disable()
	} else {
		c.up.Enable()
	}
}

// say shows what was wrong, or hides the line for "".
func (c *fileChooser) say(problem string) {
	if problem == c.problem.Text && c.problem.Visible() == (problem != "") {
		return
	}
	c.problem.SetText(problem)
	if problem == "" {
		c.problem.Hide()
	} else {
		c.problem.Show()
	}
	if c.content != nil {
		c.content.Refresh() // the line came or went: lay the list out again
	}
}

// pick closes the chooser with path chosen.
func (c *fileChooser) pick(path string) {
	c.dlg.Hide()
	if c.onChosen != nil {
		c.onChosen(path)
	}
}
