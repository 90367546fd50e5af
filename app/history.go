package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// historyPage is how many hits one search (or "More results") asks for:
// a screenful or two, so a common word answers as fast as a rare one.
const historyPage = 50

// searchDelay is how long typing must pause before the search runs, so a
// fast typist does not start a search per key.
const searchDelay = 250 * time.Millisecond

// allContacts is the "with" filter's first choice: every conversation.
const allContacts = "All contacts"

// historyWindow is File → View history: a full-text search over every
// conversation, newest first, as Windows Live Messenger's message history
// viewer had. Activating a hit opens the conversation.
type historyWindow struct {
	app *App
	win fyne.Window

	search *widget.Entry
	with   *widget.Select // allContacts, then one choice per contact
	status *widget.Label  // how many found, nothing found, or what went wrong
	list   *widget.List
	more   *widget.Button // "More results", shown when the last page was full

	withUser map[string]string // with's choices → username
	hits     []api.HistoryHit

	// gen counts searches; a result for an older one than the latest is
	// dropped, so a slow search never overwrites a newer one.
	gen int
	// debounce runs a search once typing pauses. Tests replace it to run
	// the search at once.
	debounce func(func())
	timer    *time.Timer
}

// showHistory opens the history viewer, focused on its search box.
func (a *App) showHistory() {
	if a.history == nil {
		a.history = a.newHistoryWindow()
	}
	h := a.history
	h.refreshContacts()
	h.win.Show()
	h.win.RequestFocus()
	h.win.Canvas().Focus(h.search)
}

func (a *App) newHistoryWindow() *historyWindow {
	h := &historyWindow{app: a, win: a.fyne.NewWindow(a.title("Message history"))}
	h.debounce = func(run func()) {
		if h.timer != nil {
			h.timer.Stop()
		}
		h.timer = time.AfterFunc(searchDelay, func() { fyne.Do(run) })
	}

	h.search = widget.NewEntry()
	h.search.SetPlaceHolder("Search all conversations...")
	h.search.ActionItem = widget.NewIcon(theme.SearchIcon())
	h.search.OnChanged = func(text string) {
		if strings.TrimSpace(text) == "" {
			h.clear() // at once: nothing to wait for
			return
		}
		h.debounce(func() { h.run(false) })
	}
	h.search.OnSubmitted = func(string) { h.run(false) }

	h.with = widget.NewSelect([]string{allContacts}, func(string) {
		if strings.TrimSpace(h.search.Text) != "" {
			h.run(false)
		}
	})
	h.with.SetSelected(allContacts)

	h.status = widget.NewLabel("")
	h.status.Truncation = fyne.TextTruncateEllipsis

	h.list = widget.NewList(
		func() int { return len(h.hits) },
		func() fyne.CanvasObject { return newHistoryRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(h.hits) {
				o.(*historyRow).set(a, h.hits[id])
			}
		},
	)
	h.list.OnSelected = func(id widget.ListItemID) {
		h.list.UnselectAll()
		if id < len(h.hits) {
			a.openChat(h.peerOf(h.hits[id]))
		}
	}

	h.more = widget.NewButton("More results", func() { h.run(true) })
	h.more.Hide()

	top := container.NewBorder(nil, nil, nil, h.with, h.search)
	bottom := container.NewBorder(nil, nil, nil, h.more, h.status)
	h.win.SetContent(container.NewBorder(container.NewPadded(top), container.NewPadded(bottom), nil, nil, h.list))
	h.win.Resize(fyne.NewSize(560, 520))
	h.win.SetIcon(iconResource)
	// Closing hides: the window keeps its search for next time.
	h.win.SetCloseIntercept(h.win.Hide)
	return h
}

// refreshContacts offers every contact in the "with" filter, keeping the
// current choice when that contact is still there.
func (h *historyWindow) refreshContacts() {
	var cs []api.Contact
	for _, c := range h.app.contacts {
		cs = append(cs, c)
	}
	sortContacts(cs)
	h.withUser = make(map[string]string, len(cs))
	opts := []string{allContacts}
	for _, c := range cs {
		label := displayName(c)
		if label != c.Username {
			label = fmt.Sprintf("%s (%s)", label, c.Username)
		}
		h.withUser[label] = c.Username
		opts = append(opts, label)
	}
	selected := h.with.Selected
	h.with.SetOptions(opts)
	if _, ok := h.withUser[selected]; !ok {
		selected = allContacts
	}
	if h.with.Selected != selected {
		h.with.SetSelected(selected)
	}
}

// run searches for what the box holds: a first page, or with more the
// page after the hits shown.
func (h *historyWindow) run(more bool) {
	text := strings.TrimSpace(h.search.Text)
	if text == "" {
		h.clear()
		return
	}
	q := api.HistoryQuery{Text: text, With: h.withUser[h.with.Selected], Limit: historyPage}
	if more && len(h.hits) > 0 {
		q.Before = h.hits[len(h.hits)-1].Seq
	}
	h.gen++
	gen := h.gen
	var page []api.HistoryHit
	h.app.command(func(ctx context.Context) error {
		var err error
		page, err = h.app.api.SearchHistory(ctx, q)
		return err
	}, func(err error) {
		if gen != h.gen {
			return // a newer search (or a cleared box) superseded this one
		}
		switch {
		case errors.Is(err, api.ErrBadRequest):
			// Only punctuation or symbols: nothing to search for yet.
			h.show(nil, false, "Type a word to search.")
		case err != nil:
			h.show(nil, false, "The history could not be searched: "+errorText(err))
		default:
			// A full page may have more behind it; a short one is the end.
			full := len(page) == historyPage
			if more {
				page = append(h.hits, page...)
			}
			h.show(page, full, foundText(len(page), full))
		}
	})
}

// clear empties the results, and drops any search still running.
func (h *historyWindow) clear() {
	h.gen++
	if h.timer != nil {
		h.timer.Stop()
	}
	h.show(nil, false, "")
}

// reset forgets the search: on sign-out, so the next account does not see it.
func (h *historyWindow) reset() {
	h.search.SetText("") // OnChanged clears the results
	h.clear()
	h.with.SetSelected(allContacts)
}

func (h *historyWindow) show(hits []api.HistoryHit, more bool, status string) {
	h.hits = hits
	h.list.Refresh()
	if len(hits) > 0 && len(hits) <= historyPage {
		h.list.ScrollToTop()
	}
	h.status.SetText(status)
	if more {
		h.more.Show()
	} else {
		h.more.Hide()
	}
}

func foundText(n int, more bool) string {
	switch {
	case n == 0:
		return "No messages found."
	case more:
		return fmt.Sprintf("%d messages found so far.", n)
	case n == 1:
		return "1 message found."
	}
	return fmt.Sprintf("%d messages found.", n)
}

// peerOf is the contact a hit's conversation is with.
func (h *historyWindow) peerOf(hit api.HistoryHit) string {
	if hit.From == h.app.me() || api.IsConversation(hit.To) {
		return hit.To
	}
	return hit.From
}

// historyRow is one hit: who and when on the first line, the snippet with
// the matched words in bold below.
type historyRow struct {
	widget.BaseWidget
	name    *widget.Label
	when    *widget.Label
	snippet *widget.RichText
	line    *fyne.Container // name and time
	box     fyne.CanvasObject
}

func newHistoryRow() *historyRow {
	r := &historyRow{
		name:    widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		when:    widget.NewLabel(""),
		snippet: widget.NewRichText(),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.snippet.Truncation = fyne.TextTruncateEllipsis
	r.line = container.NewBorder(nil, nil, nil, r.when, r.name)
	r.box = container.NewVBox(r.line, r.snippet)
	r.ExtendBaseWidget(r)
	return r
}

func (r *historyRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.box) }

func (r *historyRow) set(a *App, hit api.HistoryHit) {
	switch conv, isConv := a.conversations[hit.To]; {
	case api.IsConversation(hit.To):
		// A multi-party conversation: who wrote, and with whom.
		who := a.nameOf(hit.From)
		if hit.From == a.me() {
			who = "You"
		}
		with := "a conversation"
		if isConv {
			with = a.membersText(conv)
		}
		r.name.SetText(who + " in " + with)
	case hit.From == a.me():
		r.name.SetText("You to " + a.nameOf(hit.To))
	default:
		r.name.SetText(a.nameOf(hit.From))
	}
	r.when.SetText(hit.Time.Local().Format("Mon 2 Jan 2006 15:04"))
	r.line.Refresh() // the time's width changed: lay the line out again
	r.snippet.Segments = snippetSegments(hit.Snippet, hit.Marks)
	r.snippet.Refresh()
}

// snippetSegments is the snippet as rich text, the marked byte ranges in
// bold (both styles are inline: the snippet stays one line). Marks that
// are out of order, out of range or not on UTF-8
// boundaries are ignored rather than trusted: the text must always show.
func snippetSegments(snippet string, marks [][2]int) []widget.RichTextSegment {
	plain := func(s string) widget.RichTextSegment {
		return &widget.TextSegment{Text: s, Style: widget.RichTextStyleInline}
	}
	var segs []widget.RichTextSegment
	at := 0
	for _, m := range marks {
		if m[0] < at || m[1] <= m[0] || m[1] > len(snippet) || !boundary(snippet, m[0]) || !boundary(snippet, m[1]) {
			continue
		}
		if m[0] > at {
			segs = append(segs, plain(snippet[at:m[0]]))
		}
		segs = append(segs, &widget.TextSegment{Text: snippet[m[0]:m[1]], Style: widget.RichTextStyleStrong})
		at = m[1]
	}
	if at < len(snippet) || len(segs) == 0 {
		segs = append(segs, plain(snippet[at:]))
	}
	return segs
}

// boundary reports whether byte offset i of s starts a UTF-8 sequence (or
// is the end).
func boundary(s string, i int) bool {
	return i == len(s) || (i >= 0 && i < len(s) && (s[i]&0xC0) != 0x80)
}
