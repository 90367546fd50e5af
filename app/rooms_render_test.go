package app

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"eserver/assets"
	"eserver/node/api"
)

// roomListings is the directory the room renders show.
var roomListings = []api.RoomListing{
	{Room: "beach-volleyball", Topic: "Saturdays at 10 by the pier", Members: 14, Online: 14, Public: true},
	{Room: "region-es", Region: "ES", Topic: "Charla general", Members: 9, Online: 9, Public: true},
	{Room: "chess", Topic: "Blitz every evening, all levels welcome", Members: 3, Online: 3, Public: true},
	{Room: "gophers", Members: 1, Online: 1, Public: true},
}

// roomScene is a signed-in app (signedInRender) in the room "beach-volleyball"
// with a few messages: Bob's (a contact with a picture), a stranger's (with
// the nick and picture she signed) and ours, and a join; the directory is
// open beside it.
func roomScene(t *testing.T, a *App, fake *fakeAPI, texts [4]string) *roomWindow {
	t.Helper()
	dir := t.TempDir()
	c := a.contacts["bob"]
	c.AvatarPath = filepath.Join(dir, "bob.png")
	if err := os.WriteFile(c.AvatarPath, assets.Pictures[1].PNG, 0o600); err != nil {
		t.Fatal(err)
	}
	a.apply(api.Event{Contact: &c})
	// marta.g is no contact: her nick and picture are what her messages
	// signed, her picture fetched from her node.
	marta := filepath.Join(dir, "marta.png")
	if err := os.WriteFile(marta, assets.Pictures[4].PNG, 0o600); err != nil {
		t.Fatal(err)
	}
	if ms, ok := fake.Room.Members["beach-volleyball"]; ok {
		ms = slices.Clone(ms)
		for i := range ms {
			if ms[i].Username == "marta.g" {
				ms[i].Nick, ms[i].AvatarPath = "Marta García", marta
			}
		}
		fake.Room.Members["beach-volleyball"] = ms
	}
	fake.Room.Listings = roomListings
	fake.Room.Messages = map[string][]api.RoomMessage{"beach-volleyball": {
		{Room: "beach-volleyball", ID: "r1", From: "bob", Text: texts[0], Time: renderDay},
		{Room: "beach-volleyball", ID: "r2", From: "marta.g", Text: texts[1], Time: renderDay.Add(time.Minute), Nick: "Marta García", AvatarPath: marta},
		{Room: "beach-volleyball", ID: "r3", From: "alice", Text: texts[2], Time: renderDay.Add(2 * time.Minute)},
	}}
	if fake.Room.Infos == nil {
		fake.Room.Infos = map[string]api.RoomInfo{}
	}
	info := fake.Room.Infos["beach-volleyball"]
	info.Room, info.Topic = "beach-volleyball", texts[3]
	if info.Role == "" {
		info.Role = api.RoomRoleOwner
	}
	fake.Room.Infos["beach-volleyball"] = info
	if info.Encrypted { // invite-only rooms' messages carry no nick or picture
		for i := range fake.Room.Messages["beach-volleyball"] {
			fake.Room.Messages["beach-volleyball"][i].Nick, fake.Room.Messages["beach-volleyball"][i].AvatarPath = "", ""
		}
		ms := slices.Clone(fake.Room.Members["beach-volleyball"])
		for i := range ms {
			ms[i].Nick, ms[i].AvatarPath = "", ""
		}
		fake.Room.Members["beach-volleyball"] = ms
	}
	a.showRoomDirectory()
	a.enterRoom("beach-volleyball", "", nil)
	r := a.rooms.wins["beach-volleyball"]
	a.apply(api.Event{RoomEvent: &api.RoomEvent{Room: "beach-volleyball", Kind: api.RoomJoin, Username: "jonas"}})
	return r
}

var (
	roomTextsEN = [4]string{"Anyone up for Saturday? :)", "Count me in! I'll bring the net", "Great, see you at 10 (y)", "Saturdays at 10 by the pier"}
	roomTextsES = [4]string{"¿Alguien para el sábado? :)", "¡Yo me apunto! Llevo la red", "Genial, nos vemos a las 10 (y)", "Los sábados a las 10 junto al muelle"}
)

// TestRenderRooms: the room directory and a room's window, pixel for
// pixel, in both themes (testdata/failed/ and `make golden` when a
// change is intended).
func TestRenderRooms(t *testing.T) {
	for _, th := range []string{themeLight, themeDark} {
		t.Run(th, func(t *testing.T) {
			useFakeClock(t, renderDay.Add(10*time.Minute))
			a, fake := signedInRender(t, th)
			fake.Room.Members = map[string][]api.RoomMember{"beach-volleyball": roomMembersScene}
			r := roomScene(t, a, fake, roomTextsEN)
			d := a.rooms.dir
			d.win.Resize(fyne.NewSize(560, 460))
			d.list.Select(0)
			test.AssertRendersToImage(t, "rooms-directory-"+th+".png", d.win.Canvas())
			r.win.Resize(fyne.NewSize(roomWindowWidth, roomWindowHeight))
			r.win.Content().Refresh()
			test.AssertRendersToImage(t, "room-"+th+".png", r.win.Canvas())
			if th == themeLight {
				// The owner's right-click on a member, then the settings.
				widget.ShowPopUpMenuAtPosition(r.memberMenu(roomMembersScene[3]), r.win.Canvas(), fyne.NewPos(520, 300))
				test.AssertRendersToImage(t, "room-member-menu-"+th+".png", r.win.Canvas())
				r.win.Canvas().Overlays().Remove(r.win.Canvas().Overlays().Top())
				test.Tap(r.header.settings)
				test.AssertRendersToImage(t, "room-settings-"+th+".png", r.win.Canvas())
			}
		})
	}
}

// TestRenderInviteOnlyRoom: an invite-only room says its messages are
// end-to-end encrypted, and its owner gets Invite.
func TestRenderInviteOnlyRoom(t *testing.T) {
	useFakeClock(t, renderDay.Add(10*time.Minute))
	a, fake := signedInRender(t, themeLight)
	fake.Room.Members = map[string][]api.RoomMember{"beach-volleyball": roomMembersScene[:3]}
	fake.Room.Infos = map[string]api.RoomInfo{"beach-volleyball": {Role: api.RoomRoleOwner, Encrypted: true,
		Modes: api.RoomModesSettings{InviteOnly: true}}}
	r := roomScene(t, a, fake, roomTextsEN)
	r.win.Resize(fyne.NewSize(roomWindowWidth, roomWindowHeight))
	r.win.Content().Refresh()
	test.AssertRendersToImage(t, "room-invite-only-light.png", r.win.Canvas())
}

// TestRenderRoomsSpanish: the same in Spanish, where the regional room is
// "ES — España".
func TestRenderRoomsSpanish(t *testing.T) {
	useLanguageForTest(t, "es")
	useFakeClock(t, renderDay.Add(10*time.Minute))
	a, fake := signedInRender(t, themeLight)
	fake.Room.Members = map[string][]api.RoomMember{"beach-volleyball": roomMembersScene}
	r := roomScene(t, a, fake, roomTextsES)
	d := a.rooms.dir
	d.win.Resize(fyne.NewSize(560, 460))
	test.AssertRendersToImage(t, "rooms-directory-es.png", d.win.Canvas())
	r.win.Resize(fyne.NewSize(roomWindowWidth, roomWindowHeight))
	r.win.Content().Refresh()
	test.AssertRendersToImage(t, "room-es.png", r.win.Canvas())
	test.Tap(d.create)
	d.win.Resize(fyne.NewSize(560, 460))
	test.AssertRendersToImage(t, "room-create-es.png", d.win.Canvas())
}

// roomsFit fails t when the room directory or a room's window, in the
// language in use, needs more room than the app gives it.
func roomsFit(t *testing.T) {
	t.Helper()
	a, fake := signedInRender(t, themeLight)
	owner := api.RoomInfo{Room: "beach-volleyball", Role: api.RoomRoleOwner, Encrypted: true, Modes: api.RoomModesSettings{InviteOnly: true}}
	fake.Room.Infos = map[string]api.RoomInfo{"beach-volleyball": owner}
	fake.Room.Members = map[string][]api.RoomMember{"beach-volleyball": roomMembersScene}
	r := roomScene(t, a, fake, roomTextsEN)
	fits(t, "the room directory", a.rooms.dir.win, fyne.NewSize(560, 460))
	fits(t, "a room", r.win, fyne.NewSize(roomWindowWidth, roomWindowHeight))
}

// roomDialogsFit fails t when the room dialogs need more width than the
// app gives them.
func roomDialogsFit(t *testing.T) {
	t.Helper()
	a, fake := signedInRender(t, themeLight)
	fake.Room.Infos = map[string]api.RoomInfo{"beach-volleyball": {Room: "beach-volleyball", Role: api.RoomRoleOwner,
		Modes: api.RoomModesSettings{HasPassword: true, MinAccountMinutes: 7 * 24 * 60}}}
	r := roomScene(t, a, fake, roomTextsEN)
	d := a.rooms.dir
	test.Tap(d.create)
	overlayFits(t, "Create a chat room", d.win, createRoomWidth)
	test.Tap(r.header.settings)
	if pop, ok := r.win.Canvas().Overlays().Top().(*widget.PopUp); !ok || pop.Content.MinSize().Height > roomWindowHeight {
		t.Errorf("Room settings is taller than its window")
	}
	overlayFits(t, "Room settings", r.win, roomSettingsWidth)
}

// roomMembersScene are the members the room renders show.
var roomMembersScene = []api.RoomMember{
	{Username: "alice", Role: api.RoomRoleOwner, Status: api.StatusOnline},
	{Username: "bob", Role: api.RoomRoleOp, Status: api.StatusOnline},
	{Username: "marta.g", Role: api.RoomRoleVoice, Status: api.StatusOnline},
	{Username: "jonas", Role: api.RoomRoleMember, Status: api.StatusOnline},
	{Username: "carol", Role: api.RoomRoleMember, Status: api.StatusBusy},
	{Username: "pedro_s", Role: api.RoomRoleMember, Status: api.StatusOffline},
}
