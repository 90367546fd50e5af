package app

import (
	"context"
	"slices"
	"strings"

	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// Multi-party conversations, as MSN's "Invite someone to this
// conversation": a conversation window whose "with" is the conversation's
// ID. Its messages name their authors; nudges, live streams and typing
// stay two-party, so their buttons hide. A file sent in it is offered to
// each member.
//
// As in MSN, a conversation grows out of the window it started from: the
// two-party window in which someone invites a third person — ours, or the
// one we had open with whoever invited us — becomes the conversation,
// with what was said above.

// membersText names a conversation's other members: "Bob", "Bob and
// Carol", "Bob, Carol and Dave"; "nobody else" when none is left.
func (a *App) membersText(conv api.Conversation) string {
	if names := a.membersBut(conv, a.me()); names != "" {
		return names
	}
	return lang.L("nobody else")
}

// membersBut names the members other than us and those in except; ""
// when there are none.
func (a *App) membersBut(conv api.Conversation, except ...string) string {
	var names []string
	for _, m := range conv.Members {
		if m != a.me() && !slices.Contains(except, m) {
			names = append(names, a.nameOf(m))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return joinAnd(names)
}

// joinAnd joins names as prose: "Bob", "Bob and Carol", "Bob, Carol and Dave".
func joinAnd(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return lang.L("{{.First}} and {{.Last}}", map[string]any{
		"First": strings.Join(names[:len(names)-1], ", "), "Last": names[len(names)-1],
	})
}

// offlineMembers are the other members of conv who are our contacts and
// offline. Members who are not our contacts show us no presence: they are
// not counted either way.
func (a *App) offlineMembers(conv api.Conversation) (offline []string, anyOnline bool) {
	for _, m := range conv.Members {
		if m == a.me() {
			continue
		}
		c, ok := a.contacts[m]
		switch {
		case !ok || c.Relation != api.RelationAccepted:
			anyOnline = true // unknown: not shown as gone
		case c.Online():
			anyOnline = true
		default:
			offline = append(offline, a.nameOf(m))
		}
	}
	return offline, anyOnline
}

// memberPresence tells the open multi-party windows that member now went
// offline or came back (before: what we knew of them, if known), so no
// window shows someone who quit as there.
func (a *App) memberPresence(before api.Contact, known bool, now api.Contact) {
	was, is := known && before.Online(), now.Online()
	for id, conv := range a.conversations {
		chat := a.chats[id]
		if chat == nil || conv.Left || !slices.Contains(conv.Members, now.Username) {
			continue
		}
		chat.setConversation(conv)
		name := a.nameOf(now.Username)
		switch {
		case was && !is:
			chat.info(lang.L("{{.Name}} has signed out. Messages sent now reach {{.Name}} at the next sign-in.", map[string]any{"Name": name}))
		case known && !was && is:
			chat.info(lang.L("{{.Name}} is back online.", map[string]any{"Name": name}))
		}
	}
}

// conversationChanged applies a conversation's news: we were invited (its
// window opens), someone joined or left (a line in its window).
func (a *App) conversationChanged(ev api.ConversationEvent) {
	old, known := a.conversations[ev.ID]
	a.conversations[ev.ID] = ev.Conversation
	me := a.me()
	chat := a.chats[ev.ID]
	if chat == nil && ev.Joined == me && ev.By != me && !ev.Conversation.Left {
		if one := a.chats[ev.By]; one != nil && one.shown {
			chat = one
			a.becomeConversation(chat, ev.Conversation)
		} else {
			chat = a.chat(ev.ID)
		}
		chat.show(false)
		// "Bob invited you into a conversation with Carol": the inviter
		// is named once.
		chat.info(invitedText(a.nameOf(ev.By), a.membersBut(ev.Conversation, ev.By)))
		return
	}
	if chat == nil {
		return
	}
	chat.setConversation(ev.Conversation)
	switch {
	case ev.Joined != "" && ev.Joined != me && (!known || !slices.Contains(old.Members, ev.Joined)):
		chat.info(joinedText(a.nameOf(ev.Joined)))
	case ev.Left != "" && ev.Left != me:
		chat.info(leftText(a.nameOf(ev.Left)))
	}
}

// setConversation shows who is in a multi-party conversation, and who of
// them is offline: the glyph is green while anyone else may be there.
func (c *chatWindow) setConversation(conv api.Conversation) {
	offline, anyOnline := c.app.offlineMembers(conv)
	c.glyph.Resource = glyphOnline
	if !anyOnline {
		c.glyph.Resource = glyphOffline
	}
	c.glyph.Refresh()
	c.nick.SetText(c.app.membersText(conv))
	n := len(conv.Members)
	status := lang.N("({{.Count}} people)", n, map[string]any{"Count": n})
	if len(offline) > 0 {
		status = lang.N("({{.Count}} people · {{.Offline}} offline)", n, map[string]any{"Count": n, "Offline": joinAnd(offline)})
	}
	if conv.Left {
		status = lang.L("(you left this conversation)")
	}
	c.status.SetText(status)
	c.subnick.SetText("")
	c.win.SetTitle(c.app.title(conversationTitle(c.app.membersText(conv))))
	c.entry.Enable()
	c.send.Enable()
	c.inviteBtn.Enable()
	c.leaveBtn.Show()
	if conv.Left {
		c.entry.Disable()
		c.send.Disable()
		c.inviteBtn.Disable()
		c.leaveBtn.Hide()
	}
}

// twoPartyOnly hides what a multi-party conversation does not do.
func (c *chatWindow) twoPartyOnly() {
	for _, b := range []*widget.Button{c.nudgeBtn, c.liveBtn, c.lock} {
		b.Hide()
	}
	c.callBox.Hide() // calls are between two people
}

// becomeConversation turns the two-party window c into the multi-party
// conversation conv: it keeps its place and what was said; a conversation
// with that contact alone opens in a new window when next needed.
// Transfers in its tray stay there (App.transferWins routes them).
func (a *App) becomeConversation(c *chatWindow, conv api.Conversation) {
	if a.chats[c.with] == c {
		delete(a.chats, c.with)
	}
	a.conversations[conv.ID] = conv
	c.with = conv.ID
	a.chats[conv.ID] = c
	c.clearTyping()
	c.twoPartyOnly()
	c.banner.Hide() // the safety warning was about the one contact
	c.top.Refresh()
	c.theirPic.setPicture("")
	c.setConversation(conv)
}

// inviteChoices are the contacts that can be invited: accepted, online,
// not in the conversation yet.
func (c *chatWindow) inviteChoices() []string {
	members := []string{c.with}
	if api.IsConversation(c.with) {
		members = c.app.conversations[c.with].Members
	}
	var out []string
	for _, ct := range c.app.contacts {
		if ct.Online() && !slices.Contains(members, ct.Username) {
			out = append(out, ct.Username)
		}
	}
	slices.SortFunc(out, func(x, y string) int { return strings.Compare(c.app.nameOf(x), c.app.nameOf(y)) })
	return out
}

// showInvite is the Invite button: pick an online contact to bring in.
func (c *chatWindow) showInvite() {
	choices := c.inviteChoices()
	if len(choices) == 0 {
		dialog.ShowInformation(lang.L("Invite someone"), lang.L("None of your other contacts is online to invite."), c.win)
		return
	}
	labels := make([]string, len(choices))
	for i, u := range choices {
		labels[i] = c.app.nameOf(u) + " (" + u + ")"
	}
	c.invitePick = widget.NewSelect(labels, nil)
	c.invitePick.SetSelectedIndex(0)
	dialog.ShowCustomConfirm(lang.L("Invite someone to this conversation"), lang.L("Invite"), lang.L("Cancel"), c.invitePick, func(ok bool) {
		if !ok || c.invitePick.SelectedIndex() < 0 {
			return
		}
		c.invite(choices[c.invitePick.SelectedIndex()])
	}, c.win)
}

// invite brings username in; from a two-party window the conversation
// grows into a new multi-party one, in the same window.
func (c *chatWindow) invite(username string) {
	with := c.with
	var id string
	c.app.command(func(ctx context.Context) error {
		var err error
		id, err = c.app.api.Invite(ctx, with, username)
		return err
	}, func(err error) {
		if err != nil {
			c.notice(lang.L("Could not invite {{.Name}}: {{.Error}}", map[string]any{"Name": c.app.nameOf(username), "Error": errorText(err)}))
			return
		}
		conv := c.app.conversations[id]
		if conv.ID == "" {
			conv = api.Conversation{ID: id, Members: []string{c.app.me(), username}}
			if !api.IsConversation(with) {
				conv.Members = append(conv.Members, with)
			}
			slices.Sort(conv.Members)
			c.app.conversations[id] = conv
		}
		chat := c.app.chats[id]
		switch {
		case chat != nil:
		case !api.IsConversation(with) && c.app.chats[with] == c:
			chat = c // the window grows into the conversation, as in MSN
			c.app.becomeConversation(c, conv)
		default:
			chat = c.app.chat(id)
		}
		chat.setConversation(conv)
		chat.info(youInvitedText(c.app.nameOf(username)))
		chat.show(true)
	})
}

// leave is the Leave button of a multi-party conversation.
func (c *chatWindow) leave() {
	id := c.with
	c.app.command(func(ctx context.Context) error { return c.app.api.LeaveConversation(ctx, id) }, func(err error) {
		if err != nil {
			c.notice(lang.L("Could not leave the conversation: {{.Error}}", map[string]any{"Error": errorText(err)}))
			return
		}
		c.hide()
	})
}

// loadConversations learns the multi-party conversations we are in at
// sign-in, so a message in one names its members.
func (a *App) loadConversations() {
	var cs []api.Conversation
	a.command(func(ctx context.Context) error {
		var err error
		cs, err = a.api.Conversations(ctx)
		return err
	}, func(err error) {
		if err != nil || a.account == nil {
			return // the windows show who wrote each message anyway
		}
		for _, cv := range cs {
			a.conversations[cv.ID] = cv
			if chat := a.chats[cv.ID]; chat != nil {
				chat.setConversation(cv)
			}
		}
	})
}

// info shows a line about the conversation itself (who joined, who left).
func (c *chatWindow) info(text string) {
	c.line(text, c.clock.Now(), widget.MediumImportance)
}

// The lines a conversation's news leaves, in the chat and in the history
// alike.

// invitedText: we were invited by inviter, with others ("" for nobody
// else); the inviter is named once.
func invitedText(inviter, others string) string {
	if others == "" {
		return lang.L("{{.Name}} invited you into a conversation.", map[string]any{"Name": inviter})
	}
	return lang.L("{{.Name}} invited you into a conversation with {{.Others}}.", map[string]any{"Name": inviter, "Others": others})
}

func youInvitedText(name string) string {
	return lang.L("You invited {{.Name}}.", map[string]any{"Name": name})
}

func joinedText(name string) string {
	return lang.L("{{.Name}} has joined the conversation.", map[string]any{"Name": name})
}

func leftText(name string) string {
	return lang.L("{{.Name}} has left the conversation.", map[string]any{"Name": name})
}
