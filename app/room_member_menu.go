package app

import (
	"context"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// A member's menu in a room: their profile and a private message (a
// contact request for someone not in our list), then what our role lets
// us do to theirs — voice, operator status, kick, ban — and a report to
// the room's owner and operators. Items we may not use are not shown: the
// home refuses them anyway (docs/ROOMS.md has who may do what to whom).

// canModerate reports whether a member with role ours may kick, ban,
// voice or op one with role theirs: the owner anyone else, an operator
// members and voiced members but no other operator and never the owner.
func canModerate(ours, theirs api.RoomRole) bool {
	switch ours {
	case api.RoomRoleOwner:
		return theirs != api.RoomRoleOwner
	case api.RoomRoleOp:
		return theirs == api.RoomRoleVoice || theirs == api.RoomRoleMember
	}
	return false
}

// banChoices are the lengths a ban menu offers; 0 is until unbanned.
var banChoices = []time.Duration{10 * time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 0}

// banLabel names a ban's length in the menu.
func banLabel(d time.Duration) string {
	switch d {
	case 0:
		return lang.L("Until unbanned")
	case 10 * time.Minute:
		return lang.L("For 10 minutes")
	case time.Hour:
		return lang.L("For an hour")
	case 24 * time.Hour:
		return lang.L("For a day")
	}
	return lang.L("For a week")
}

// memberMenu is what a right-click on mb offers; nil when nothing.
func (r *roomWindow) memberMenu(mb api.RoomMember) *fyne.Menu {
	a := r.app
	u := mb.Username
	ours := r.info.Role
	var items []*fyne.MenuItem
	item := func(label string, icon fyne.Resource, do func()) *fyne.MenuItem {
		it := fyne.NewMenuItem(label, do)
		it.Icon = icon // every item has one: Fyne indents a label only past an icon
		items = append(items, it)
		return it
	}
	if u == a.me() {
		if ours == api.RoomRoleOp {
			item(lang.L("Step down as operator"), theme.ContentRemoveIcon(), r.moderate(func(ctx context.Context) error {
				return a.api.RoomOp(ctx, r.name, u, false)
			}))
			return fyne.NewMenu(a.nameOf(u), items...)
		}
		return nil
	}
	if c, ok := a.contacts[u]; ok && c.Relation == api.RelationAccepted {
		item(lang.L("Send an instant message"), theme.MailComposeIcon(), func() { a.openChat(u) })
		item(lang.L("View profile"), theme.AccountIcon(), func() { a.showProfile(u) })
	} else {
		item(lang.L("Send a private message..."), theme.MailComposeIcon(), func() { r.askContact(u) })
	}
	if canModerate(ours, mb.Role) {
		items = append(items, fyne.NewMenuItemSeparator())
		switch mb.Role {
		case api.RoomRoleVoice:
			item(lang.L("Mute (take voice)"), theme.VolumeMuteIcon(), r.moderate(func(ctx context.Context) error {
				return a.api.RoomVoice(ctx, r.name, u, false)
			}))
		case api.RoomRoleMember:
			item(lang.L("Give voice"), theme.VolumeUpIcon(), r.moderate(func(ctx context.Context) error {
				return a.api.RoomVoice(ctx, r.name, u, true)
			}))
		}
		if mb.Role == api.RoomRoleOp {
			item(lang.L("Remove operator"), theme.ContentRemoveIcon(), r.moderate(func(ctx context.Context) error {
				return a.api.RoomOp(ctx, r.name, u, false)
			}))
		} else {
			item(lang.L("Make operator"), theme.ContentAddIcon(), r.moderate(func(ctx context.Context) error {
				return a.api.RoomOp(ctx, r.name, u, true)
			}))
		}
		item(lang.L("Kick out"), theme.LogoutIcon(), r.moderate(func(ctx context.Context) error {
			return a.api.RoomKick(ctx, r.name, u)
		}))
		ban := item(lang.L("Ban"), theme.CancelIcon(), nil)
		var lengths []*fyne.MenuItem
		for _, d := range banChoices {
			lengths = append(lengths, fyne.NewMenuItem(banLabel(d), r.moderate(func(ctx context.Context) error {
				return a.api.RoomBan(ctx, r.name, u, d)
			})))
		}
		ban.ChildMenu = fyne.NewMenu(lang.L("Ban"), lengths...)
	}
	items = append(items, fyne.NewMenuItemSeparator())
	item(lang.L("Report..."), theme.WarningIcon(), func() { r.askReport(u) })
	return fyne.NewMenu(a.nameOf(u), items...)
}

// moderate runs a moderation command; the room's event shows its effect
// to everyone, us included, and a refusal is said in the room.
func (r *roomWindow) moderate(do func(ctx context.Context) error) func() {
	return func() {
		r.app.command(do, func(err error) {
			if err != nil {
				r.transcript.notice(lang.L("That did not work: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
				return
			}
			r.reload()
		})
	}
}

// askContact offers to add username, whom we met in the room, as a
// contact: private messages go to contacts only.
func (r *roomWindow) askContact(username string) {
	a := r.app
	a.showAddContact()
	d := a.main.addDialog
	d.username.SetText(username)
	d.message.SetText(lang.L("Hi! We met in {{.Room}}.", map[string]any{"Room": roomTitle(r.name)}))
	a.main.win.Show()
	a.main.win.RequestFocus()
}

// askReport asks why username is reported, then tells the room's owner
// and operators.
func (r *roomWindow) askReport(username string) { r.askReportMessage(username, "") }

// askReportMessage is askReport about the message id ("" for none).
func (r *roomWindow) askReportMessage(username, id string) {
	reason := widget.NewMultiLineEntry()
	reason.SetPlaceHolder(lang.L("What happened? (optional)"))
	reason.SetMinRowsVisible(3)
	hint := widget.NewLabel(lang.L("The room's owner and operators will see your report about {{.Name}}.", map[string]any{"Name": r.app.nameOf(username)}))
	hint.Wrapping = fyne.TextWrapWord
	askDialog(lang.L("Report"), container.NewVBox(hint, reason), r.win, lang.L("Report"), func() {
		text := strings.TrimSpace(reason.Text)
		r.app.command(func(ctx context.Context) error {
			return r.app.api.RoomReport(ctx, r.name, username, id, text)
		}, func(err error) {
			if err != nil {
				r.transcript.notice(lang.L("The report was not sent: {{.Reason}}", map[string]any{"Reason": roomErrorText(err)}))
				return
			}
			r.transcript.line(lang.L("You reported {{.Name}} to the room's owner and operators.", map[string]any{"Name": r.app.nameOf(username)}), widget.LowImportance)
		})
	}).Show()
}

// mayDelete reports whether me, with role ours, may delete for everyone
// a message by author, whose role is authors: our own, and as the owner
// anyone's, as an operator those of members and voiced members.
func mayDelete(me, author string, ours, authors api.RoomRole) bool {
	return author == me || canModerate(ours, authors)
}

// messageMenu is what a right-click on a message offers: deleting it for
// everyone where our role allows, reporting someone else's.
func (r *roomWindow) messageMenu(m api.RoomMessage) *fyne.Menu {
	a := r.app
	var items []*fyne.MenuItem
	if mayDelete(a.me(), m.From, r.info.Role, r.members.role(m.From)) && m.ID != "" {
		del := fyne.NewMenuItem(lang.L("Delete for everyone"), r.moderate(func(ctx context.Context) error {
			return a.api.RoomDeleteMessage(ctx, r.name, m.ID)
		}))
		del.Icon = theme.DeleteIcon()
		items = append(items, del)
	}
	if m.From != a.me() {
		rep := fyne.NewMenuItem(lang.L("Report..."), func() { r.askReportMessage(m.From, m.ID) })
		rep.Icon = theme.WarningIcon()
		items = append(items, rep)
	}
	if len(items) == 0 {
		return nil
	}
	return fyne.NewMenu("", items...)
}
