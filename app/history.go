package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
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
func allContacts() string { return lang.L("All contacts") }

// historyWindow is File → View history: a full-text search over every
// conversation, newest first, as Windows Live Messenger's message history
// viewer had; with no words typed, the conversation with the chosen contact
// read day by day, newest first, a page at a time. Activating a message
// opens the conversation.
type historyWindow struct {
	app *App
	win fyne.Window

	search *widget.Entry
	with   *widget.Select // allContacts, then one choice per contact
	status *widget.Label  // how many found, nothing found, or what went wrong
	list   *widget.List
	more   *widget.Button  // "More results" or "Older messages", shown when the last page was full
	bottom *fyne.Container // status and more

	withUser map[string]string // with's choices → username
	hits     []api.HistoryHit  // the messages listed, newest first
	rows     []historyItem     // what the list shows: hits, under day headings when browsing
	browsing bool              // hits are a conversation read by day, not search results

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
	if strings.TrimSpace(h.search.Text) == "" {
		h.browse(false)
	}
	h.win.Show()
	h.win.RequestFocus()
	h.win.Canvas().Focus(h.search)
}

func (a *App) newHistoryWindow() *historyWindow {
	h := &historyWindow{app: a, win: a.fyne.NewWindow(a.title(lang.L("Message history")))}
	h.debounce = func(run func()) {
		if h.timer != nil {
			h.timer.Stop()
		}
		h.timer = time.AfterFunc(searchDelay, func() { fyne.Do(run) })
	}

	h.search = widget.NewEntry()
	h.search.SetPlaceHolder(lang.L("Search all conversations..."))
	h.search.ActionItem = widget.NewIcon(theme.SearchIcon())
	h.search.OnChanged = func(text string) {
		if strings.TrimSpace(text) == "" {
			h.browse(false) // at once: nothing to wait for
			return
		}
		h.debounce(func() { h.run(false) })
	}
	h.search.OnSubmitted = func(string) { h.run(false) }

	h.with = widget.NewSelect([]string{allContacts()}, nil)
	h.with.SetSelected(allContacts())
	h.with.OnChanged = func(string) {
		if strings.TrimSpace(h.search.Text) != "" {
			h.run(false)
		} else {
			h.browse(false)
		}
	}

	h.status = widget.NewLabel("")
	h.status.Truncation = fyne.TextTruncateEllipsis

	h.list = widget.NewList(
		func() int { return len(h.rows) },
		func() fyne.CanvasObject { return newHistoryRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(h.rows) {
				r := o.(*historyRow)
				r.setItem(a, h.rows[id])
				r.snippet.onTap = func() { h.list.Select(id) }
			}
		},
	)
	h.list.OnSelected = func(id widget.ListItemID) {
		h.list.UnselectAll()
		if id < len(h.rows) && h.rows[id].day == "" {
			a.openChat(h.peerOf(h.rows[id].hit))
		}
	}

	h.more = widget.NewButton(lang.L("More results"), func() {
		if h.browsing {
			h.browse(true)
		} else {
			h.run(true)
		}
	})
	h.more.Hide()

	top := container.NewBorder(nil, nil, nil, h.with, h.search)
	h.bottom = container.NewBorder(nil, nil, nil, h.more, h.status)
	h.win.SetContent(container.NewBorder(container.NewPadded(top), container.NewPadded(h.bottom), nil, nil, h.list))
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
	opts := []string{allContacts()}
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
		selected = allContacts()
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
	h.browsing = false
	h.setMore(lang.L("More results"))
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
			h.show(nil, false, lang.L("Type a word to search."))
		case err != nil:
			h.show(nil, false, lang.L("The history could not be searched: {{.Error}}", map[string]any{"Error": errorText(err)}))
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

// browseHint is what the window says with no words typed and no contact
// chosen.
func browseHint() string {
	return lang.L("Choose a contact to read your conversation by day, or type words to search.")
}

// browse shows the conversation with the chosen contact, newest first
// under day headings, historyPage messages at a time; with more, the page
// before the oldest shown. With no contact chosen it says how to start.
func (h *historyWindow) browse(more bool) {
	with := h.withUser[h.with.Selected]
	if with == "" {
		h.clear()
		h.status.SetText(browseHint())
		return
	}
	before := ""
	if more && h.browsing && len(h.hits) > 0 {
		before = h.hits[len(h.hits)-1].ID
	}
	if h.timer != nil {
		h.timer.Stop() // a search typed before the box was emptied
	}
	h.gen++
	gen := h.gen
	h.browsing = true
	h.setMore(lang.L("Older messages"))
	name := h.app.nameOf(with)
	var msgs []api.Message
	h.app.command(func(ctx context.Context) error {
		var err error
		msgs, err = h.app.api.History(ctx, with, historyPage, before)
		return err
	}, func(err error) {
		if gen != h.gen {
			return
		}
		if err != nil {
			h.show(nil, false, lang.L("The conversation could not be loaded: {{.Error}}", map[string]any{"Error": errorText(err)}))
			return
		}
		full := len(msgs) == historyPage
		// History gives the page oldest first: the viewer reads newest first.
		var page []api.HistoryHit
		if more {
			page = append(page, h.hits...)
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			page = append(page, api.HistoryHit{Message: msgs[i], Snippet: msgs[i].Text})
		}
		status := lang.L("Your conversation with {{.Name}}, newest first.", map[string]any{"Name": name})
		if len(page) == 0 {
			status = lang.L("You have no messages with {{.Name}} yet.", map[string]any{"Name": name})
		}
		h.show(page, full, status)
	})
}

// setMore names the paging button (show lays the bar out again).
func (h *historyWindow) setMore(text string) {
	h.more.SetText(text)
}

// clear empties the results, and drops any search still running.
func (h *historyWindow) clear() {
	h.gen++
	if h.timer != nil {
		h.timer.Stop()
	}
	h.show(nil, false, "")
}

// reset forgets the search: on sign-out, so the next account does not see
// it. Nothing is asked of the node, which has no account now.
func (h *historyWindow) reset() {
	onWith, onSearch := h.with.OnChanged, h.search.OnChanged
	h.with.OnChanged, h.search.OnChanged = nil, nil
	h.search.SetText("")
	h.with.SetSelected(allContacts())
	h.with.OnChanged, h.search.OnChanged = onWith, onSearch
	h.clear()
	h.status.SetText(browseHint())
}

func (h *historyWindow) show(hits []api.HistoryHit, more bool, status string) {
	h.hits = hits
	h.rows = h.rows[:0]
	day := ""
	for _, hit := range hits {
		if d := dayHeading(hit.Time); h.browsing && d != day {
			h.rows = append(h.rows, historyItem{day: d})
			day = d
		}
		h.rows = append(h.rows, historyItem{hit: hit, timeOnly: h.browsing})
	}
	h.list.Refresh()
	// Day headings are one line; messages have a snippet under the name.
	// Every row's height is set: a row that was a heading before is a
	// message now.
	tmpl := newHistoryRow()
	dayH, msgH := tmpl.dayHeight(), tmpl.MinSize().Height
	for id, r := range h.rows {
		if r.day != "" {
			h.list.SetItemHeight(id, dayH)
		} else {
			h.list.SetItemHeight(id, msgH)
		}
	}
	if len(hits) > 0 && len(hits) <= historyPage {
		h.list.ScrollToTop()
	}
	h.status.SetText(status)
	if more {
		h.more.Show()
	} else {
		h.more.Hide()
	}
	h.bottom.Refresh() // the button came or went: lay the bar out again
}

func foundText(n int, more bool) string {
	count := printer().Sprintf("%d", n)
	switch {
	case n == 0:
		return lang.L("No messages found.")
	case more:
		return lang.N("{{.Count}} messages found so far.", n, map[string]any{"Count": count})
	}
	return lang.N("{{.Count}} messages found.", n, map[string]any{"Count": count})
}

// peerOf is the contact a hit's conversation is with.
func (h *historyWindow) peerOf(hit api.HistoryHit) string {
	if hit.From == h.app.me() || api.IsConversation(hit.To) {
		return hit.To
	}
	return hit.From
}

// historyItem is one row of the list: a day heading, or a message (under
// a heading, which names the day: the message shows only its time).
type historyItem struct {
	day      string
	hit      api.HistoryHit
	timeOnly bool
}

// dayHeading names t's day as a heading: "Saturday 21 November 2026".
func dayHeading(t time.Time) string { return dateText(t) }

// historyRow is one hit: who and when on the first line, the snippet with
// the matched words in bold below, its emoticons as pictures as in the
// chat. A nudge, a file or someone joining or leaving shows as the chat
// window told it. As a day heading it shows the day alone.
type historyRow struct {
	widget.BaseWidget
	name    *widget.Label
	when    *widget.Label
	snippet *messageText
	line    *fyne.Container // name and time
	box     fyne.CanvasObject
}

func newHistoryRow() *historyRow {
	r := &historyRow{
		name:    widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		when:    widget.NewLabel(""),
		snippet: newMessageText(""),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.snippet.oneLine = true
	r.line = container.NewBorder(nil, nil, nil, r.when, r.name)
	// The text close under its name and time, as the chat sets a message
	// under "says:" (a VBox's padding left a gap that read as two rows).
	r.box = container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()), r.line, r.snippet)
	r.ExtendBaseWidget(r)
	return r
}

func (r *historyRow) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(r.box) }

// dayHeight is the height of a day heading: one line.
func (r *historyRow) dayHeight() float32 { return r.line.MinSize().Height }

// setItem shows a day heading or a message.
func (r *historyRow) setItem(a *App, it historyItem) {
	if it.day == "" {
		r.name.Importance = widget.MediumImportance
		r.snippet.Show()
		r.set(a, it.hit)
		if it.timeOnly {
			r.when.SetText(clockText(it.hit.Time))
			r.line.Refresh()
		}
		return
	}
	r.name.Importance = widget.HighImportance
	r.name.SetText(it.day)
	r.when.SetText("")
	r.line.Refresh()
	r.snippet.Hide()
}

func (r *historyRow) set(a *App, hit api.HistoryHit) {
	switch conv, isConv := a.conversations[hit.To]; {
	case api.IsConversation(hit.To):
		// A multi-party conversation: who wrote, and with whom.
		with := lang.L("a conversation")
		if isConv {
			with = a.membersText(conv)
		}
		if hit.From == a.me() {
			r.name.SetText(lang.L("You in {{.Conversation}}", map[string]any{"Conversation": with}))
		} else {
			r.name.SetText(lang.L("{{.Name}} in {{.Conversation}}", map[string]any{"Name": a.nameOf(hit.From), "Conversation": with}))
		}
	case hit.From == a.me():
		r.name.SetText(lang.L("You to {{.Name}}", map[string]any{"Name": a.nameOf(hit.To)}))
	default:
		r.name.SetText(a.nameOf(hit.From))
	}
	r.when.SetText(shortDateTimeText(hit.Time))
	r.line.Refresh() // the time's width changed: lay the line out again
	if hit.Kind == api.KindMessage {
		r.snippet.SetMarked(hit.Snippet, hit.Marks)
		return
	}
	text := a.entryText(hit.Message)
	r.snippet.SetMarked(text, a.entryMarks(hit, text))
}

// boundary reports whether byte offset i of s starts a UTF-8 sequence (or
// is the end).
func boundary(s string, i int) bool {
	return i == len(s) || (i >= 0 && i < len(s) && (s[i]&0xC0) != 0x80)
}
