package app

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
	"eserver/node/api"
)

// texts is every label's and message's text under o, in order.
func texts(o fyne.CanvasObject) []string {
	switch w := o.(type) {
	case *widget.Label:
		return []string{w.Text}
	case *messageText:
		return []string{w.Text}
	case *fyne.Container:
		var out []string
		for _, c := range w.Objects {
			out = append(out, texts(c)...)
		}
		return out
	case *dayDivider:
		return nil
	case *roomMessageRow:
		return texts(w.box)
	}
	return nil
}

// transcript is a room's transcript as lines: "name: text" for messages
// (the name, the time, then the text joined), the line's text for lines.
func transcript(r *roomWindow) []string {
	var out []string
	for _, o := range r.transcript.box.Objects {
		if _, day := o.(*dayDivider); day {
			continue
		}
		ts := texts(o)
		if len(ts) == 3 { // name, time, text
			out = append(out, ts[0]+": "+ts[2])
		} else {
			out = append(out, strings.Join(ts, " "))
		}
	}
	return out
}

// TestRoomDirectory: the directory searches on Enter and on a region,
// shows rooms with their topic and member count (a regional room as
// "ES — Spain"), and Join enters the chosen room: its window opens with
// its backlog, and the room is remembered for the next sign-in.
func TestRoomDirectory(t *testing.T) {
	a, fake := signedIn(t)
	fake.Room.Listings = []api.RoomListing{
		{Room: "beach", Topic: "Volleyball on Saturdays", Members: 12, Online: 12, Public: true},
		{Room: "region-es", Region: "ES", Members: 1, Online: 1, Public: true},
	}
	fake.Room.Messages = map[string][]api.RoomMessage{"beach": {
		{Room: "beach", ID: "r1", From: "bob", Text: "who is in?", Time: time.Now()},
	}}
	a.showRoomDirectory()
	d := a.rooms.dir
	if !fake.Called(`ListRooms "" "" 100`) {
		t.Fatalf("opening did not search: %v", fake.Calls())
	}
	if d.list.Length() != 2 || d.status.Text != "2 rooms" {
		t.Fatalf("%d rows, status %q", d.list.Length(), d.status.Text)
	}
	row := newRoomListRow()
	row.set(d.rows[0])
	if got := texts(container.NewVBox(row.name, row.topic, row.members)); !slices.Equal(got, []string{"beach", "Volleyball on Saturdays", "12 members"}) {
		t.Errorf("row %q", got)
	}
	row.set(d.rows[1])
	if row.name.Text != "ES \u2014 Spain" || row.members.Text != "1 member" {
		t.Errorf("regional row %q, %q", row.name.Text, row.members.Text)
	}
	if !d.join.Disabled() {
		t.Error("Join enabled with nothing chosen")
	}

	fake.ResetCalls()
	test.Type(d.search, "volley")
	d.search.OnSubmitted(d.search.Text)
	if !fake.Called(`ListRooms "volley" "" 100`) {
		t.Fatalf("Enter did not search: %v", fake.Calls())
	}
	for i, r := range d.regions {
		if r.code == "ES" {
			d.region.SetSelectedIndex(i + 1)
		}
	}
	if d.region.Selected != "ES \u2014 Spain" || !fake.Called(`ListRooms "volley" "ES" 100`) {
		t.Fatalf("region %q, calls %v", d.region.Selected, fake.Calls())
	}

	d.list.Select(0)
	if d.join.Disabled() {
		t.Fatal("Join disabled with a room chosen")
	}
	test.Tap(d.join)
	r := a.rooms.wins["beach"]
	if !fake.Called(`JoinRoom beach ""`) || r == nil || !r.shown {
		t.Fatalf("joining: window %v, calls %v", r, fake.Calls())
	}
	if got := transcript(r); !slices.Equal(got, []string{"bob: who is in?"}) {
		t.Errorf("backlog %q", got)
	}
	if got := a.joinedRooms(); !slices.Equal(got, []string{"beach"}) {
		t.Errorf("remembered %v", got)
	}
}

// TestRoomDirectoryJoinByName: a room not listed (not public) is joined by
// typing its name; a wrong password asks for it.
func TestRoomDirectoryJoinByName(t *testing.T) {
	a, fake := signedIn(t)
	a.showRoomDirectory()
	d := a.rooms.dir
	test.Type(d.search, "Not a name!")
	if !d.join.Disabled() {
		t.Fatal("Join enabled for no room's name")
	}
	d.search.SetText("secret-club")
	d.search.OnSubmitted(d.search.Text)
	if !strings.Contains(d.status.Text, "secret-club") || d.join.Disabled() {
		t.Fatalf("status %q, join disabled %v", d.status.Text, d.join.Disabled())
	}
	fake.Fail("JoinRoom", api.ErrWrongPassword)
	test.Tap(d.join)
	if a.rooms.wins["secret-club"] != nil {
		t.Fatal("a refused join opened the room")
	}
	if d.win.Canvas().Overlays().Top() == nil {
		t.Fatal("no password asked")
	}
	fake.Fail("JoinRoom", nil)
	d.joinRoom("secret-club", "hunter2")
	if !fake.Called(`JoinRoom secret-club "hunter2"`) || a.rooms.wins["secret-club"] == nil {
		t.Fatalf("calls %v", fake.Calls())
	}
}

// TestRoomSend: Enter sends to the room; the message shows when the room
// echoes it, once, however often it comes; a refusal says why and gives
// the text back.
func TestRoomSend(t *testing.T) {
	a, fake := signedIn(t)
	a.enterRoom("beach", "", nil)
	r := a.rooms.wins["beach"]
	test.Type(r.composer.entry, "hello room")
	r.composer.entry.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !fake.Called("RoomSend beach hello room") || r.composer.entry.Text != "" {
		t.Fatalf("entry %q, calls %v", r.composer.entry.Text, fake.Calls())
	}
	m := api.RoomMessage{Room: "beach", ID: "x1", From: "alice", Text: "hello room", Time: time.Now()}
	a.apply(api.Event{RoomMessage: &m})
	a.apply(api.Event{RoomMessage: &m})
	if got := transcript(r); !slices.Equal(got, []string{"alice: hello room"}) {
		t.Fatalf("transcript %q", got)
	}

	fake.Fail("RoomSend", api.ErrNotAllowed)
	test.Type(r.composer.entry, "again")
	test.Tap(r.composer.send)
	got := transcript(r)
	if r.composer.entry.Text != "again" || len(got) != 2 || !strings.HasPrefix(got[1], "Your message was not sent: The room does not allow that") {
		t.Fatalf("entry %q, transcript %q", r.composer.entry.Text, got)
	}
}

// TestRoomEvents: joins, the topic and moderation show as lines everyone
// sees; being kicked stops the composer, and a room we were banned from
// is not rejoined at the next sign-in.
func TestRoomEvents(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	a.enterRoom("beach", "", nil)
	r := a.rooms.wins["beach"]
	// The node's state after the events below, as RoomInfo and
	// RoomMembers read it again.
	fake.Room.Infos = map[string]api.RoomInfo{"beach": {Room: "beach", Topic: "Saturday 10:00", Role: api.RoomRoleMember}}
	fake.Room.Members = map[string][]api.RoomMember{"beach": {
		{Username: "bob", Role: api.RoomRoleOwner, Status: api.StatusOnline},
		{Username: "alice", Role: api.RoomRoleMember, Status: api.StatusOnline},
		{Username: "carol", Role: api.RoomRoleMember, Status: api.StatusOffline},
	}}
	for _, e := range []api.RoomEvent{
		{Kind: api.RoomJoin, Username: "bob"},
		{Kind: api.RoomTopic, By: "bob", Topic: "Saturday 10:00"},
		{Kind: api.RoomVoice, Username: "carol", By: "bob"},
		{Kind: api.RoomDevoice, Username: "carol", By: "bob"},
		{Kind: api.RoomKick, Username: "carol", By: "bob"},
		{Kind: "something-new", Username: "carol"},
		{Kind: api.RoomBan, Username: "dave", By: "bob", Until: time.Date(time.Now().Year(), 12, 24, 18, 0, 0, 0, time.Local)},
		{Kind: api.RoomReported, Username: "dave", By: "carol", Reason: "spam"},
		{Kind: api.RoomBan, Username: "alice", By: "bob"},
	} {
		e.Room = "beach"
		a.apply(api.Event{RoomEvent: &e})
	}
	want := []string{
		"Bob joined the room.",
		"Bob changed the topic to \u201cSaturday 10:00\u201d.",
		"Bob gave carol a voice.",
		"Bob muted carol.",
		"carol was kicked out by Bob.",
		"dave was banned by Bob until 24 December, 18:00.",
		"carol reported dave to you: \u201cspam\u201d",
		"Bob banned you from the room.",
	}
	if got := transcript(r); !slices.Equal(got, want) {
		t.Fatalf("lines\n got %q\nwant %q", got, want)
	}
	if r.header.topic.Text != "Saturday 10:00" || r.header.count.Text != "2 in the room" {
		t.Errorf("topic %q, count %q", r.header.topic.Text, r.header.count.Text)
	}
	if !r.composer.entry.Disabled() || len(a.joinedRooms()) != 0 {
		t.Errorf("after the ban: entry disabled %v, remembered %v", r.composer.entry.Disabled(), a.joinedRooms())
	}
	// A room we are not in shows nothing, and opens no window.
	e := api.RoomEvent{Room: "other", Kind: api.RoomJoin, Username: "bob"}
	a.apply(api.Event{RoomEvent: &e, RoomMessage: &api.RoomMessage{Room: "other", ID: "o1", From: "bob", Text: "hi"}})
	if a.rooms.wins["other"] != nil {
		t.Error("a room we did not join opened")
	}
}

// TestRoomsRejoinedAtSignIn: the rooms joined come back at the next
// sign-in, closing a room's window leaves it, and signing out closes the
// windows without leaving.
func TestRoomsRejoinedAtSignIn(t *testing.T) {
	a, fake := signedIn(t)
	a.enterRoom("beach", "", nil)
	a.enterRoom("chess", "", nil)
	a.doSignOut()
	if len(a.rooms.wins) != 0 || fake.Called("LeaveRoom") {
		t.Fatalf("signing out: %d windows, calls %v", len(a.rooms.wins), fake.Calls())
	}
	fake.ResetCalls()
	test.Tap(a.signIn.button) // the username is still there; the fake takes any password
	if a.account == nil {
		a.signIn.password.SetText("secret")
		test.Tap(a.signIn.button)
	}
	for _, room := range []string{"beach", "chess"} {
		if r := a.rooms.wins[room]; r == nil || !r.shown || !fake.Called("JoinRoom "+room) || !fake.Called("RoomHistory "+room) {
			t.Fatalf("%s not rejoined: calls %v", room, fake.Calls())
		}
	}
	// Leave (as the window's close button) leaves the room for good.
	test.Tap(a.rooms.wins["chess"].header.leave)
	if a.rooms.wins["chess"] != nil || !fake.Called("LeaveRoom chess") || !slices.Equal(a.joinedRooms(), []string{"beach"}) {
		t.Fatalf("closing: remembered %v, calls %v", a.joinedRooms(), fake.Calls())
	}
	// A room that keeps us out is not tried again at the next sign-in.
	a.rememberRoom("gone", true)
	fake.Fail("JoinRoom", api.ErrBanned)
	a.enterRoom("gone", "", nil) // as reopenRooms does
	fake.Fail("JoinRoom", nil)
	if r := a.rooms.wins["gone"]; r == nil || !strings.Contains(strings.Join(transcript(r), " "), "You are banned") || slices.Contains(a.joinedRooms(), "gone") {
		t.Fatalf("a refused rejoin: remembered %v", a.joinedRooms())
	}
	// A message in a remembered room with no window opens it.
	delete(a.rooms.wins, "beach")
	a.apply(api.Event{RoomMessage: &api.RoomMessage{Room: "beach", ID: "b1", From: "bob", Text: "back"}})
	if r := a.rooms.wins["beach"]; r == nil || !r.shown {
		t.Fatal("a message in a joined room did not show it")
	}
}

// TestCreateRoom: the dialog checks the name before asking the node,
// creates a public or invite-only room, then joins it.
func TestCreateRoom(t *testing.T) {
	a, fake := signedIn(t)
	a.showRoomDirectory()
	d := a.rooms.dir
	test.Tap(d.create)
	c := d.creating
	for _, bad := range []string{"x", "Has Spaces", "region-fr"} {
		c.name.SetText(bad)
		test.Tap(c.ok)
		if !c.errText.Visible() || fake.Called("CreateRoom") {
			t.Fatalf("%q: error %q shown %v, calls %v", bad, c.errText.Text, c.errText.Visible(), fake.Calls())
		}
	}
	c.name.SetText("Beach")
	c.topic.SetText("Volleyball")
	test.Tap(c.ok)
	if !fake.Called(`CreateRoom beach "Volleyball" public=true inviteOnly=false`) || !fake.Called(`JoinRoom beach`) || a.rooms.wins["beach"] == nil {
		t.Fatalf("calls %v", fake.Calls())
	}

	test.Tap(d.create)
	c = d.creating
	c.name.SetText("club")
	c.kind.SetSelected(roomKindInviteOnly())
	if !strings.Contains(c.about.Text, "end-to-end encrypted") {
		t.Errorf("invite-only explained as %q", c.about.Text)
	}
	fake.Fail("CreateRoom", api.ErrRateLimited)
	test.Tap(c.ok)
	if !fake.Called(`CreateRoom club "" public=false inviteOnly=true`) || !strings.Contains(c.errText.Text, "3 rooms in the last hour") {
		t.Fatalf("error %q, calls %v", c.errText.Text, fake.Calls())
	}
}

// TestRegionNames: regions are named in the language in use, sorted as a
// reader looks them up, and an unknown code shows as itself.
func TestRegionNames(t *testing.T) {
	tests := []struct{ lang, code, want string }{
		{"en", "ES", "ES \u2014 Spain"},
		{"es", "DE", "DE \u2014 Alemania"},
		{"de", "ES", "ES \u2014 Spanien"},
		{"pt-BR", "DE", "DE \u2014 Alemanha"},
		{"en", "zz", "ZZ"},
	}
	for _, tt := range tests {
		useLanguageForTest(t, tt.lang)
		if got := regionLabel(tt.code); got != tt.want {
			t.Errorf("%s: regionLabel(%s) = %q, want %q", tt.lang, tt.code, got, tt.want)
		}
	}
	useLanguageForTest(t, "de")
	rs := regions()
	if len(rs) < 200 {
		t.Fatalf("%d regions", len(rs))
	}
	at := func(code string) int { return slices.IndexFunc(rs, func(r region) bool { return r.code == code }) }
	// Österreich sorts among the O's, after Oman, not after Zypern.
	if at("AT") < at("OM") || at("AT") > at("PK") {
		t.Errorf("Österreich at %d, Oman %d, Pakistan %d", at("AT"), at("OM"), at("PK"))
	}
}

// menuLabels is a menu's items as labels, "-" for a separator.
func menuLabels(m *fyne.Menu) []string {
	if m == nil {
		return nil
	}
	var out []string
	for _, it := range m.Items {
		if it.IsSeparator {
			out = append(out, "-")
			continue
		}
		out = append(out, it.Label)
	}
	return out
}

// TestRoomMemberMenu: a member's menu offers moderation only where our
// role allows it on theirs — the owner on anyone else, an operator on
// members and voiced members — and a private message (a contact request
// for a stranger) and a report to everyone.
func TestRoomMemberMenu(t *testing.T) {
	pm, im, prof, rep := "Send a private message...", "Send an instant message", "View profile", "Report..."
	mods := func(voice string, op string) []string {
		return []string{"-", voice, op, "Kick out", "Ban"}
	}
	tests := []struct {
		name   string
		ours   api.RoomRole
		target api.RoomMember
		want   []string
	}{
		{"member on the owner", api.RoomRoleMember, api.RoomMember{Username: "bob", Role: api.RoomRoleOwner}, []string{im, prof, "-", rep}},
		{"member on a member", api.RoomRoleMember, api.RoomMember{Username: "carol", Role: api.RoomRoleMember}, []string{pm, "-", rep}},
		{"voiced on a member", api.RoomRoleVoice, api.RoomMember{Username: "carol", Role: api.RoomRoleMember}, []string{pm, "-", rep}},
		{"operator on a member", api.RoomRoleOp, api.RoomMember{Username: "carol", Role: api.RoomRoleMember},
			append(append([]string{pm}, mods("Give voice", "Make operator")...), "-", rep)},
		{"operator on a voiced member", api.RoomRoleOp, api.RoomMember{Username: "carol", Role: api.RoomRoleVoice},
			append(append([]string{pm}, mods("Mute (take voice)", "Make operator")...), "-", rep)},
		{"operator on an operator", api.RoomRoleOp, api.RoomMember{Username: "carol", Role: api.RoomRoleOp}, []string{pm, "-", rep}},
		{"operator on the owner", api.RoomRoleOp, api.RoomMember{Username: "bob", Role: api.RoomRoleOwner}, []string{im, prof, "-", rep}},
		{"owner on an operator", api.RoomRoleOwner, api.RoomMember{Username: "carol", Role: api.RoomRoleOp},
			[]string{pm, "-", "Remove operator", "Kick out", "Ban", "-", rep}},
		{"operator on themselves", api.RoomRoleOp, api.RoomMember{Username: "alice", Role: api.RoomRoleOp}, []string{"Step down as operator"}},
		{"member on themselves", api.RoomRoleMember, api.RoomMember{Username: "alice", Role: api.RoomRoleMember}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, fake := signedIn(t)
			bob := contact("bob", api.StatusOnline)
			a.apply(api.Event{Contact: &bob})
			fake.Room.Infos = map[string]api.RoomInfo{"beach": {Room: "beach", Role: tt.ours}}
			a.enterRoom("beach", "", nil)
			r := a.rooms.wins["beach"]
			if got := menuLabels(r.memberMenu(tt.target)); !slices.Equal(got, tt.want) {
				t.Errorf("menu\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestRoomModeration: the owner's menu items reach the node, the member
// list shows roles and statuses and is read again after a change, and a
// private message to a stranger is a contact request.
func TestRoomModeration(t *testing.T) {
	a, fake := signedIn(t)
	fake.Room.Infos = map[string]api.RoomInfo{"beach": {Room: "beach", Role: api.RoomRoleOwner, Owner: "alice"}}
	fake.Room.Members = map[string][]api.RoomMember{"beach": {
		{Username: "alice", Role: api.RoomRoleOwner, Status: api.StatusOnline},
		{Username: "dave", Role: api.RoomRoleOp, Status: api.StatusBusy},
		{Username: "carol", Role: api.RoomRoleMember, Status: api.StatusOffline},
	}}
	a.enterRoom("beach", "", nil)
	r := a.rooms.wins["beach"]
	if r.members.title.Text != "Members (3)" || r.header.count.Text != "2 in the room" {
		t.Fatalf("title %q, count %q", r.members.title.Text, r.header.count.Text)
	}
	row := newMemberRow(r.members)
	row.set(r.members.members[1])
	if row.mark.Text != "@" || row.name.Text != "dave" || row.role.Text != "operator" || row.glyph.Resource != glyphBusy {
		t.Errorf("dave's row: %q %q %q", row.mark.Text, row.name.Text, row.role.Text)
	}
	row.set(r.members.members[0])
	if row.mark.Text != "\u2605" || row.role.Text != "owner" {
		t.Errorf("the owner's row: %q %q", row.mark.Text, row.role.Text)
	}

	carol := r.members.members[2]
	fake.ResetCalls()
	menu := r.memberMenu(carol)
	menuItem(t, menu, "Kick out").Action()
	menuItem(t, menuItem(t, menu, "Ban").ChildMenu, "For an hour").Action()
	menuItem(t, menuItem(t, menu, "Ban").ChildMenu, "Until unbanned").Action()
	menuItem(t, menu, "Give voice").Action()
	menuItem(t, menu, "Make operator").Action()
	for _, call := range []string{"RoomKick beach carol", "RoomBan beach carol 1h0m0s", "RoomBan beach carol 0s",
		"RoomVoice beach carol true", "RoomOp beach carol true", "RoomMembers beach"} {
		if !fake.Called(call) {
			t.Errorf("no %s in %v", call, fake.Calls())
		}
	}
	fake.Fail("RoomKick", api.ErrNotAllowed)
	menuItem(t, menu, "Kick out").Action()
	if got := transcript(r); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "That did not work:") {
		t.Errorf("a refused kick: %q", got)
	}

	menuItem(t, menu, "Send a private message...").Action()
	d := a.main.addDialog
	if d == nil || d.username.Text != "carol" || !strings.Contains(d.message.Text, "beach") {
		t.Fatalf("add dialog %+v", d)
	}
	test.Tap(d.add)
	if !fake.Called("AddContact carol") {
		t.Errorf("calls %v", fake.Calls())
	}
}

// TestRoomSettings: the settings dialog is the owner's and operators'; it
// sends only what changed, the topic apart from the modes, and refuses a
// limit that is no number.
func TestRoomSettings(t *testing.T) {
	a, fake := signedIn(t)
	fake.Room.Infos = map[string]api.RoomInfo{
		"beach": {Room: "beach", Topic: "Volleyball", Role: api.RoomRoleOp,
			Modes: api.RoomModesSettings{Public: true, HasPassword: true, SlowSeconds: 10}},
		"chess": {Room: "chess", Role: api.RoomRoleVoice},
	}
	a.enterRoom("chess", "", nil)
	if a.rooms.wins["chess"].header.settings.Visible() {
		t.Error("a voiced member is offered the room's settings")
	}
	a.enterRoom("beach", "", nil)
	r := a.rooms.wins["beach"]
	if !r.header.settings.Visible() {
		t.Fatal("an operator is not offered the room's settings")
	}
	test.Tap(r.header.settings)
	s := r.settings
	if s.del.Visible() || s.slow.Selected != "10 seconds" || !s.public.Checked || !s.noPassword.Visible() {
		t.Fatalf("opened on: delete %v, slow %q, public %v", s.del.Visible(), s.slow.Selected, s.public.Checked)
	}
	fake.ResetCalls()
	test.Tap(s.save)
	if fake.Called("RoomSetModes") || fake.Called("RoomSetTopic") {
		t.Fatalf("saving no change sent %v", fake.Calls())
	}

	test.Tap(r.header.settings)
	s = r.settings
	s.limit.SetText("lots")
	test.Tap(s.save)
	if !s.errText.Visible() || fake.Called("RoomSetModes") {
		t.Fatalf("a bad limit: error %q, calls %v", s.errText.Text, fake.Calls())
	}
	s.limit.SetText("50")
	s.moderated.SetChecked(true)
	s.public.SetChecked(false)
	s.noPassword.SetChecked(true)
	s.slow.SetSelected("30 seconds")
	s.minAge.SetSelected("Accounts older than 1 day")
	s.topic.SetText("Volleyball, Saturdays")
	test.Tap(s.save)
	for _, call := range []string{
		`RoomSetTopic beach "Volleyball, Saturdays"`,
		`RoomSetModes beach public=false moderated=true password="" limit=50 slowSeconds=30 minAccountMinutes=1440`,
	} {
		if !fake.Called(call) {
			t.Errorf("no %s in %v", call, fake.Calls())
		}
	}
}

// TestRoomModeratedComposer: in a moderated room a member without a
// voice cannot write, and the entry says why.
func TestRoomModeratedComposer(t *testing.T) {
	a, fake := signedIn(t)
	fake.Room.Infos = map[string]api.RoomInfo{"quiet": {Room: "quiet", Role: api.RoomRoleMember, Modes: api.RoomModesSettings{Moderated: true}}}
	a.enterRoom("quiet", "", nil)
	r := a.rooms.wins["quiet"]
	if !r.composer.entry.Disabled() || !strings.Contains(r.composer.entry.PlaceHolder, "moderated") {
		t.Fatalf("entry disabled %v, placeholder %q", r.composer.entry.Disabled(), r.composer.entry.PlaceHolder)
	}
	fake.Room.Infos["quiet"] = api.RoomInfo{Room: "quiet", Role: api.RoomRoleVoice, Modes: api.RoomModesSettings{Moderated: true}}
	a.apply(api.Event{RoomEvent: &api.RoomEvent{Room: "quiet", Kind: api.RoomVoice, Username: "alice", By: "bob"}})
	if r.composer.entry.Disabled() {
		t.Fatal("a voice did not let us write")
	}
}

// TestRoomMessageMenu: a message's menu deletes it for everyone where our
// role allows (our own; the owner's any; an operator's members'), and
// reports someone else's with the message; a deletion shows everywhere.
func TestRoomMessageMenu(t *testing.T) {
	tests := []struct {
		name string
		ours api.RoomRole
		from string
		want []string
	}{
		{"our own", api.RoomRoleMember, "alice", []string{"Delete for everyone"}},
		{"a member's, as a member", api.RoomRoleMember, "carol", []string{"Report..."}},
		{"a member's, as an operator", api.RoomRoleOp, "carol", []string{"Delete for everyone", "Report..."}},
		{"an operator's, as an operator", api.RoomRoleOp, "dave", []string{"Report..."}},
		{"an operator's, as the owner", api.RoomRoleOwner, "dave", []string{"Delete for everyone", "Report..."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, fake := signedIn(t)
			fake.Room.Infos = map[string]api.RoomInfo{"beach": {Room: "beach", Role: tt.ours}}
			fake.Room.Members = map[string][]api.RoomMember{"beach": {
				{Username: "alice", Role: tt.ours, Status: api.StatusOnline},
				{Username: "dave", Role: api.RoomRoleOp, Status: api.StatusOnline},
				{Username: "carol", Role: api.RoomRoleMember, Status: api.StatusOnline},
			}}
			a.enterRoom("beach", "", nil)
			r := a.rooms.wins["beach"]
			m := api.RoomMessage{Room: "beach", ID: "m9", From: tt.from, Text: "hello"}
			menu := r.messageMenu(m)
			if got := menuLabels(menu); !slices.Equal(got, tt.want) {
				t.Fatalf("menu %q, want %q", got, tt.want)
			}
			menu.Items[0].Action()
			if tt.want[0] == "Delete for everyone" && !fake.Called("RoomDeleteMessage beach m9") {
				t.Errorf("calls %v", fake.Calls())
			}
		})
	}

	a, fake := signedIn(t)
	a.enterRoom("beach", "", nil)
	r := a.rooms.wins["beach"]
	a.apply(api.Event{RoomMessage: &api.RoomMessage{Room: "beach", ID: "m1", From: "carol", Text: "buy my stuff"}})
	menuItem(t, r.messageMenu(api.RoomMessage{Room: "beach", ID: "m1", From: "carol"}), "Report...").Action()
	pop := r.win.Canvas().Overlays().Top().(*widget.PopUp)
	reason, ok := findObject[*widget.Entry](pop.Content)
	if !ok {
		t.Fatal("no reason to write")
	}
	reason.SetText("spam")
	test.Tap(findButton(t, pop.Content, "Report"))
	if !fake.Called(`RoomReport beach carol m1 "spam"`) {
		t.Fatalf("calls %v", fake.Calls())
	}
	a.apply(api.Event{RoomEvent: &api.RoomEvent{Room: "beach", Kind: api.RoomMessageDeleted, By: "dave", ID: "m1"}})
	if got := transcript(r); !slices.Equal(got, []string{"carol: (message deleted)", "You reported carol to the room's owner and operators.", "dave deleted a message."}) {
		t.Errorf("after the deletion %q", got)
	}
}

// TestRoomInviteAndBans: an invite-only room's owner invites by username,
// and lifts a ban from the settings' list of bans.
func TestRoomInviteAndBans(t *testing.T) {
	a, fake := signedIn(t)
	fake.Room.Infos = map[string]api.RoomInfo{
		"club":  {Room: "club", Role: api.RoomRoleOwner, Encrypted: true, Modes: api.RoomModesSettings{InviteOnly: true}, Bans: []api.RoomBanEntry{{Username: "mallory"}}},
		"beach": {Room: "beach", Role: api.RoomRoleOwner, Modes: api.RoomModesSettings{Public: true}},
	}
	a.enterRoom("beach", "", nil)
	if a.rooms.wins["beach"].header.invite.Visible() {
		t.Error("a public room offers Invite")
	}
	a.enterRoom("club", "", nil)
	r := a.rooms.wins["club"]
	if !r.header.invite.Visible() || !strings.Contains(r.header.security.Text, "end-to-end encrypted") {
		t.Fatalf("invite shown %v, security %q", r.header.invite.Visible(), r.header.security.Text)
	}
	test.Tap(r.header.invite)
	pop := r.win.Canvas().Overlays().Top().(*widget.PopUp)
	entry, ok := findObject[*widget.SelectEntry](pop.Content)
	if !ok {
		t.Fatal("no username entry")
	}
	entry.SetText("Dave")
	test.Tap(findButton(t, pop.Content, "Invite"))
	if !fake.Called("RoomInvite club dave") {
		t.Fatalf("calls %v", fake.Calls())
	}

	r.showBans(r.info.Bans)
	pop = r.win.Canvas().Overlays().Top().(*widget.PopUp)
	test.Tap(findButton(t, pop.Content, "Lift the ban"))
	if !fake.Called("RoomUnban club mallory") {
		t.Fatalf("calls %v", fake.Calls())
	}
}

// findObject is the first T under o.
func findObject[T fyne.CanvasObject](o fyne.CanvasObject) (T, bool) {
	if v, ok := o.(T); ok {
		return v, true
	}
	var kids []fyne.CanvasObject
	switch w := o.(type) {
	case *fyne.Container:
		kids = w.Objects
	case *container.Scroll:
		kids = []fyne.CanvasObject{w.Content}
	case fyne.Widget:
		kids = test.WidgetRenderer(w).Objects()
	}
	for _, k := range kids {
		if v, ok := findObject[T](k); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}

// findButton is the button labelled label under o.
func findButton(t *testing.T, o fyne.CanvasObject, label string) *widget.Button {
	t.Helper()
	var found *widget.Button
	var walk func(fyne.CanvasObject)
	walk = func(o fyne.CanvasObject) {
		if found != nil {
			return
		}
		switch w := o.(type) {
		case *widget.Button:
			if w.Text == label {
				found = w
			}
		case *fyne.Container:
			for _, k := range w.Objects {
				walk(k)
			}
		case *container.Scroll:
			walk(w.Content)
		case fyne.Widget:
			for _, k := range test.WidgetRenderer(w).Objects() {
				walk(k)
			}
		}
	}
	walk(o)
	if found == nil {
		t.Fatalf("no button %q", label)
	}
	return found
}

// TestRoomTranscriptBounded: a busy room keeps its newest maxRoomItems
// messages and forgets the IDs of those dropped, so its memory is bounded.
func TestRoomTranscriptBounded(t *testing.T) {
	defer func(n int) { maxRoomItems = n }(maxRoomItems)
	maxRoomItems = 30
	a, _ := signedIn(t)
	a.enterRoom("busy", "", nil)
	tr := a.rooms.wins["busy"].transcript
	for i := range maxRoomItems + 5 {
		tr.add(api.RoomMessage{Room: "busy", ID: fmt.Sprintf("m%d", i), From: "bob", Text: fmt.Sprint(i)})
	}
	if len(tr.items) != maxRoomItems || len(tr.byID) != maxRoomItems {
		t.Fatalf("%d items, %d IDs kept", len(tr.items), len(tr.byID))
	}
	got := transcript(a.rooms.wins["busy"])
	if len(got) != maxRoomItems || got[0] != "bob: 5" || got[len(got)-1] != fmt.Sprintf("bob: %d", maxRoomItems+4) {
		t.Fatalf("%d shown, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}

// TestRoomStrangersFaces: a member who is not a contact shows as the nick
// their message signed beside their username — never in place of it, so
// "Bob" the stranger is not taken for Bob the contact — with the default
// picture until theirs arrives; then their messages and member row show
// it. A contact keeps the name and picture we know them by, whatever nick
// their messages carry.
func TestRoomStrangersFaces(t *testing.T) {
	a, fake := signedIn(t)
	bob := contact("bob", api.StatusOnline)
	a.apply(api.Event{Contact: &bob})
	fake.Room.Members = map[string][]api.RoomMember{"beach": {
		{Username: "bob", Role: api.RoomRoleOwner, Status: api.StatusOnline, Nick: "The Boss"},
		{Username: "mallory", Role: api.RoomRoleMember, Status: api.StatusOnline, Nick: "Bob"},
		{Username: "jonas", Role: api.RoomRoleMember, Status: api.StatusOnline},
	}}
	a.enterRoom("beach", "", nil)
	r := a.rooms.wins["beach"]
	for _, m := range []api.RoomMessage{
		{ID: "1", From: "bob", Text: "hi", Nick: "The Boss"},
		{ID: "2", From: "mallory", Text: "I am Bob", Nick: "Bob"},
		{ID: "3", From: "jonas", Text: "hola", Nick: "jonas"},
		{ID: "4", From: "mallory", Text: "really", Nick: "Bob"},
	} {
		m.Room, m.Time = "beach", time.Now()
		a.apply(api.Event{RoomMessage: &m})
	}
	want := []string{"Bob: hi", "Bob (mallory): I am Bob", "jonas: hola", "Bob (mallory): really"}
	if got := transcript(r); !slices.Equal(got, want) {
		t.Fatalf("transcript\n got %q\nwant %q", got, want)
	}
	rows := func() (out []*roomMessageRow) {
		for _, o := range r.transcript.box.Objects {
			if row, ok := o.(*roomMessageRow); ok {
				out = append(out, row)
			}
		}
		return out
	}
	def := r.transcript.picture("")
	for _, row := range rows() {
		if row.msg.From != "bob" && row.pic.img.Image != def {
			t.Fatalf("%s's message shows a picture before it arrived", row.msg.From)
		}
	}

	pic := filepath.Join(t.TempDir(), "m.png")
	if err := os.WriteFile(pic, assets.Pictures[3].PNG, 0o600); err != nil {
		t.Fatal(err)
	}
	a.apply(api.Event{RoomEvent: &api.RoomEvent{Room: "beach", Kind: api.RoomPicture, Username: "mallory", AvatarPath: pic}})
	got := r.transcript.picture(pic)
	if got == def {
		t.Fatal("the arrived picture decodes to the default")
	}
	for _, row := range rows() {
		if wantPic := row.msg.From == "mallory"; (row.pic.img.Image == got) != wantPic {
			t.Errorf("%s's message %s: shows the arrived picture %v", row.msg.From, row.msg.ID, !wantPic)
		}
	}
	if got := transcript(r); !slices.Equal(got, want) {
		t.Fatalf("a picture event added a line: %q", got)
	}
	// The member list: names as in the transcript, the picture on
	// mallory's row.
	row := newMemberRow(r.members)
	for _, tc := range []struct {
		user, name string
		picture    bool
	}{{"bob", "Bob", false}, {"mallory", "Bob (mallory)", true}, {"jonas", "jonas", false}} {
		i := slices.IndexFunc(r.members.members, func(m api.RoomMember) bool { return m.Username == tc.user })
		if i < 0 {
			t.Fatalf("%s not in the member list", tc.user)
		}
		row.set(r.members.members[i])
		if row.name.Text != tc.name || (row.pic.Image == got) != tc.picture {
			t.Errorf("%s's member row: %q, arrived picture shown %v", tc.user, row.name.Text, row.pic.Image == got)
		}
	}
}
