package rooms_test

import (
	"errors"
	"testing"

	"eserver/authserver"
	"eserver/authserver/bundle"
	"eserver/node"
	"eserver/node/api"
	"eserver/node/nodetest"
	"eserver/node/wire"
)

// TestRegionalRoomEndToEnd: the auth server places loopback addresses in
// "countries" (--region ranges of 127.0.0.0/8) and names ES's moderator
// (--moderator). Nodes sign in from their own addresses: the two in ES post
// in ES's regional room, the one in FR reads it but may not post, and ES's
// moderator, signed in from an address of no region, bans a spammer, who is
// removed and kept out. The directory lists the region's room.
func TestRegionalRoomEndToEnd(t *testing.T) {
	b := nodetest.BundleWith(t, func(c *bundle.Config) {
		rs, err := authserver.ParseRegionRanges([]string{"127.0.0.2/32=ES", "127.0.0.3/32=FR"})
		if err != nil {
			t.Fatal(err)
		}
		c.Regions, c.Moderators = rs, []authserver.Moderator{{Username: "esmod", Region: "ES"}}
	})
	from := func(name, ip string) *nodetest.Node {
		n := nodetest.Open(t, b.Addr(), name, node.Config{Listen: []string{"/ip4/" + ip + "/tcp/0"}})
		n.SignUp()
		n.SignIn()
		return n
	}
	ana, spammer := from("ana", "127.0.0.2"), from("spammer", "127.0.0.2")
	pierre, esmod := from("pierre", "127.0.0.3"), from("esmod", "127.0.0.4")
	ctx := nodetest.Context(t)
	es := wire.RegionalRoom("ES")

	ls, err := pierre.ListRooms(ctx, "", "ES", 0)
	if err != nil || len(ls) != 1 || ls[0].Room != es || ls[0].Region != "ES" {
		t.Fatalf("the directory's ES room: %+v, %v", ls, err)
	}
	joinAll(t, es, ana, spammer, pierre, esmod)
	send(t, ana, es, "hola a todos")
	if _, err := pierre.RoomSend(ctx, es, "bonjour"); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("FR posts in ES's room: %v, want %v", err, api.ErrNotAllowed)
	}
	if _, err := esmod.RoomSend(ctx, es, "no region, no post"); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("the moderator posts from no region: %v, want %v", err, api.ErrNotAllowed)
	}
	want(t, "pierre", roomMessages(t, pierre, es, 1), "ana: hola a todos")

	if info, err := esmod.RoomInfo(ctx, es); err != nil || info.Role != api.RoomRoleOp || info.Region != "ES" || info.Owner != "" {
		t.Fatalf("the moderator's view: %+v, %v", info, err)
	}
	if err := ana.RoomBan(ctx, es, "spammer", 0); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("a member bans in a regional room: %v, want %v", err, api.ErrNotAllowed)
	}
	if err := esmod.RoomBan(ctx, es, "spammer", 0); err != nil {
		t.Fatalf("ES's moderator bans: %v", err)
	}
	if e := roomEvent(t, ana, es, api.RoomBan, "spammer"); e.By != "esmod" {
		t.Fatalf("the ban line: %+v", e)
	}
	waitForgotten(t, spammer, es)
	if _, err := spammer.JoinRoom(ctx, es, ""); !errors.Is(err, api.ErrBanned) {
		t.Fatalf("the banned spammer rejoins: %v, want %v", err, api.ErrBanned)
	}
	if err := esmod.RoomOp(ctx, es, "ana", true); !errors.Is(err, api.ErrNotAllowed) {
		t.Fatalf("opping in a regional room: %v, want %v", err, api.ErrNotAllowed)
	}
}
