package app

import (
	"strings"

	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// History entries that are not messages — nudges, files, calls, people
// joining or leaving a conversation — told in the words the chat window used when
// they happened, in the chat window (a conversation reopened) and in the
// history viewer alike.

// entryText is what the chat window said of entry m.
func (a *App) entryText(m api.Message) string {
	me := a.me()
	switch m.Kind {
	case api.KindNudge:
		if m.From == me {
			return lang.L("You have just sent a nudge.")
		}
		return nudgedText(a.nameOf(m.From))
	case api.KindFile:
		say, _ := a.transferWords(transferOf(m, me))
		return say
	case api.KindJoined:
		switch {
		case m.Text == me && m.From != me:
			// "Bob invited you into a conversation with Carol": the inviter
			// is named once.
			return invitedText(a.nameOf(m.From), a.membersBut(a.conversations[m.To], m.From))
		case m.From == me:
			return youInvitedText(a.nameOf(m.Text))
		}
		return joinedText(a.nameOf(m.Text))
	case api.KindCall:
		return a.callText(m)
	case api.KindLeft:
		if m.Text == me {
			return lang.L("You have left the conversation.")
		}
		return leftText(a.nameOf(m.Text))
	}
	return m.Text
}

// entryMarks are the byte ranges of entryText(m) to show in bold for a
// search hit on m: the words matched in a file's name. Other entries are
// found by words their text does not hold as such; they get none.
func (a *App) entryMarks(hit api.HistoryHit, text string) [][2]int {
	if hit.Kind != api.KindFile || hit.Snippet != hit.Text || len(hit.Marks) == 0 {
		return nil
	}
	at := strings.Index(text, hit.Text)
	if at < 0 {
		return nil
	}
	marks := make([][2]int, len(hit.Marks))
	for i, mk := range hit.Marks {
		marks[i] = [2]int{mk[0] + at, mk[1] + at}
	}
	return marks
}

// transferOf is the transfer a file entry tells of, as far as history
// knows it (not where it was saved).
func transferOf(m api.Message, me string) api.Transfer {
	t := api.Transfer{ID: m.ID, Peer: m.From, Outgoing: m.From == me, Name: m.Text}
	if t.Outgoing {
		t.Peer = m.To
	}
	if m.File != nil {
		t.Size, t.State = m.File.Size, m.File.State
	}
	return t
}

// shownLines counts the lines from the app among items, by text: those
// the window showed before its history arrived.
func (c *chatWindow) shownLines(items []*chatItem) map[string]int {
	n := map[string]int{}
	for _, it := range items {
		if it.row == nil && it.transfer == nil {
			n[it.note]++
		}
	}
	return n
}

// entryItem is the line for history entry m in a reopened conversation,
// or nil when the window shows it already: a file whose end it told, or a
// line (a nudge that opened the window) among shown, which counts it off.
func (c *chatWindow) entryItem(m api.Message, shown map[string]int) *chatItem {
	when := m.Time
	if when.IsZero() {
		when = c.clock.Now()
	}
	if m.Kind == api.KindFile {
		if c.tray.told[m.ID] {
			return nil
		}
		c.tray.told[m.ID] = true
		return c.transferItem(transferOf(m, c.app.me()), when)
	}
	text := c.app.entryText(m)
	if shown[text] > 0 {
		shown[text]--
		return nil
	}
	return appLine(text, when, widget.MediumImportance)
}
