package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"eserver/node/api"
)

// roomMembers is the member list at the side of a room's window: the
// owner first, then operators, voiced members and the rest (the order
// RoomMembers gives), each with the glyph of their status and the mark
// of their role; a right-click offers what we may do to them
// (room_member_menu.go).
type roomMembers struct {
	r       *roomWindow
	title   *widget.Label
	list    *widget.List
	members []api.RoomMember
	box     fyne.CanvasObject
}

// roomMembersWidth is the member list's width.
const roomMembersWidth = 210

func newRoomMembers(r *roomWindow) *roomMembers {
	m := &roomMembers{r: r, title: widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})}
	m.list = widget.NewList(
		func() int { return len(m.members) },
		func() fyne.CanvasObject { return newMemberRow(m) },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(m.members) {
				o.(*memberRow).set(m.members[id])
			}
		})
	m.list.HideSeparators = true
	m.set(nil)
	m.box = container.New(&widthLayout{roomMembersWidth}, container.NewBorder(m.title, nil, nil, nil, m.list))
	return m
}

// set shows the members.
func (m *roomMembers) set(members []api.RoomMember) {
	m.members = members
	m.title.SetText(lang.L("Members ({{.Count}})", map[string]any{"Count": len(members)}))
	m.list.Refresh()
}

// setPicture shows the picture at path for username, a member who is
// not a contact, whose picture arrived.
func (m *roomMembers) setPicture(username, path string) {
	for i := range m.members {
		if m.members[i].Username == username {
			m.members[i].AvatarPath = path
		}
	}
	m.list.Refresh()
}

// role is username's role, as the list shows it; member when not listed.
func (m *roomMembers) role(username string) api.RoomRole {
	for _, mb := range m.members {
		if mb.Username == username {
			return mb.Role
		}
	}
	return api.RoomRoleMember
}

// roleMark is the sign before a member's name, as chat rooms have long
// marked them: ★ the owner, @ an operator, + a voiced member.
func roleMark(r api.RoomRole) string {
	switch r {
	case api.RoomRoleOwner:
		return "\u2605"
	case api.RoomRoleOp:
		return "@"
	case api.RoomRoleVoice:
		return "+"
	}
	return ""
}

// roleLabel names a role in words.
func roleLabel(r api.RoomRole) string {
	switch r {
	case api.RoomRoleOwner:
		return lang.L("owner")
	case api.RoomRoleOp:
		return lang.L("operator")
	case api.RoomRoleVoice:
		return lang.L("voice")
	}
	return ""
}

// memberRow is one member: status glyph, role mark, name and (in grey)
// the role in words. A secondary tap opens the member's menu; a tap on a
// contact opens the conversation with them.
type memberRow struct {
	widget.BaseWidget
	m      *roomMembers
	member api.RoomMember
	glyph  *canvas.Image
	pic    *canvas.Image // the member's picture: a contact's, or the one its messages advertised
	mark   *canvas.Text
	name   *widget.Label
	role   *widget.Label
	box    *fyne.Container
}

func newMemberRow(m *roomMembers) *memberRow {
	r := &memberRow{
		m:     m,
		glyph: canvas.NewImageFromResource(glyphOffline),
		pic:   canvas.NewImageFromResource(avatarResource),
		mark:  canvas.NewText("", theme.Color(theme.ColorNamePrimary)),
		name:  widget.NewLabel(""),
		role:  widget.NewLabel(""),
	}
	r.glyph.FillMode = canvas.ImageFillContain
	r.glyph.SetMinSize(fyne.NewSquareSize(14))
	r.pic.FillMode = canvas.ImageFillContain
	r.pic.ScaleMode = canvas.ImageScaleSmooth
	r.pic.SetMinSize(fyne.NewSquareSize(memberPictureSize))
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.role.Importance = widget.LowImportance
	r.role.SizeName = theme.SizeNameCaptionText
	r.mark.TextStyle.Bold = true
	r.mark.Alignment = fyne.TextAlignCenter
	r.box = container.NewBorder(nil, nil,
		container.NewHBox(container.NewCenter(r.glyph), container.NewCenter(r.pic), container.New(&widthLayout{markWidth}, container.NewCenter(r.mark))),
		container.NewCenter(r.role), r.name)
	r.ExtendBaseWidget(r)
	return r
}

// markWidth keeps the names lined up whatever mark is before them;
// memberPictureSize is how large a member's picture shows.
const (
	markWidth         = 14
	memberPictureSize = 20
)

func (r *memberRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(r.box)
}

func (r *memberRow) set(mb api.RoomMember) {
	r.member = mb
	// In the room, a contact shows the status they show us (Busy, Away).
	st := mb.Status
	if c, ok := r.m.r.app.contacts[mb.Username]; ok && st != api.StatusOffline && c.Relation == api.RelationAccepted && c.Online() {
		st = c.Status
	}
	r.glyph.Resource = glyph(st)
	r.glyph.Refresh()
	r.mark.Text = roleMark(mb.Role)
	r.mark.Color = theme.Color(theme.ColorNamePrimary)
	r.mark.Refresh()
	path, _ := r.m.r.app.roomPictureOf(mb.Username, mb.AvatarPath)
	r.pic.Resource, r.pic.File, r.pic.Image = nil, "", r.m.r.transcript.picture(path)
	r.pic.Refresh()
	r.name.SetText(r.m.r.app.roomNameOf(mb.Username, mb.Nick))
	if mb.Status == api.StatusOffline {
		r.name.Importance = widget.LowImportance
	} else {
		r.name.Importance = widget.MediumImportance
	}
	r.name.Refresh()
	r.role.SetText(roleLabel(mb.Role))
	r.box.Refresh() // lays out for the new role's width
}

// Tapped opens the conversation with a contact.
func (r *memberRow) Tapped(*fyne.PointEvent) {
	a := r.m.r.app
	if c, ok := a.contacts[r.member.Username]; ok && c.Relation == api.RelationAccepted {
		a.openChat(r.member.Username)
	}
}

// TappedSecondary shows the member's menu.
func (r *memberRow) TappedSecondary(ev *fyne.PointEvent) {
	if r.member.Username == "" {
		return
	}
	widget.ShowPopUpMenuAtPosition(r.m.r.memberMenu(r.member), r.m.r.win.Canvas(), ev.AbsolutePosition)
}
