package app

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// Messages and people offline, both ways. Signing in, the contact list
// says in one line how many messages waited in the mailboxes and from whom
// (the node's OfflineMessages event); clicking it opens those
// conversations. Writing to a contact who is offline, the conversation
// says once that the messages will wait for them, rather than leaving a
// clock on each message to explain itself.

// offlineNotice is the contact list's "3 messages arrived while you were
// away" line, hidden when there is nothing to say.
type offlineNotice struct {
	box   *fyne.Container
	link  *widget.Hyperlink // the text; opens the conversations
	close *widget.Button
	in    []string // the conversations the messages are in
}

func (a *App) newOfflineNotice() *offlineNotice {
	n := &offlineNotice{}
	n.link = widget.NewHyperlink("", nil)
	n.link.Wrapping = fyne.TextWrapWord
	n.link.OnTapped = func() {
		for _, with := range n.in {
			a.openChat(with)
		}
		n.hide()
	}
	n.close = widget.NewButtonWithIcon("", theme.WindowCloseIcon(), n.hide)
	n.close.Importance = widget.LowImportance
	n.box = container.NewBorder(nil, nil, container.NewCenter(widget.NewIcon(theme.MailComposeIcon())), n.close, n.link)
	n.box.Hide()
	return n
}

// show tells of the messages that waited.
func (n *offlineNotice) show(a *App, ev api.OfflineMessagesEvent) {
	if ev.Count <= 0 {
		return
	}
	n.in = ev.In
	names := make([]string, len(ev.From))
	for i, u := range ev.From {
		names[i] = a.nameOf(u)
	}
	count := printer().Sprint(ev.Count)
	text := lang.N("{{.Count}} messages arrived while you were away.", ev.Count, map[string]any{"Count": count})
	if len(names) > 0 {
		text = lang.N("{{.Count}} messages arrived while you were away, from {{.Names}}.", ev.Count,
			map[string]any{"Count": count, "Names": nameList(names)})
	}
	n.link.SetText(text)
	n.box.Show()
}

func (n *offlineNotice) hide() {
	n.in = nil
	n.box.Hide()
}

// nameList writes names as a person would: "Bob", "Bob and Carol",
// "Bob, Carol and Dave", "Bob, Carol, Dave and 2 others" — each language
// joins the last with its own word.
func nameList(names []string) string {
	const most = 3
	if len(names) > most+1 {
		rest := len(names) - most
		return lang.N("{{.Names}} and {{.Count}} others", rest,
			map[string]any{"Names": strings.Join(names[:most], ", "), "Count": rest})
	}
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return lang.L("{{.Names}} and {{.Last}}", map[string]any{"Names": strings.Join(names[:len(names)-1], ", "), "Last": names[len(names)-1]})
}

// sayContactOffline says once, when we write to an accepted contact who is
// offline, that the messages will wait for them; once more only after they
// were back online (seenOnline).
func (c *chatWindow) sayContactOffline() {
	if api.IsConversation(c.with) || c.offlineSaid {
		return
	}
	ct, ok := c.app.contacts[c.with]
	if !ok || ct.Relation != api.RelationAccepted || ct.Online() {
		return
	}
	c.offlineSaid = true
	c.line(lang.L("{{.Name}} is offline and will get your messages when they sign in.", map[string]any{"Name": displayName(ct)}),
		c.clock.Now(), widget.LowImportance)
}

// seenOnline notes that the contact is online: when they go offline again,
// the next message says so again.
func (c *chatWindow) seenOnline(ct api.Contact) {
	if ct.Online() {
		c.offlineSaid = false
	}
}
