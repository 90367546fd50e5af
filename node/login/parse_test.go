package login

import (
	"crypto/ed25519"
	"testing"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"eserver/node/ticket"
	"eserver/node/wire"
)

// FuzzParseDevices decodes arbitrary bytes as a device list, the answer a
// hostile or broken server could send: whatever parseDevices accepts is
// within the limits and well-formed.
func FuzzParseDevices(f *testing.F) {
	id, _ := peer.Decode("12D3KooWKoi8b6sQUPNknAjUCkCWTzZ6KXV3VWKkwn8zAgEvHj3b")
	good, _ := proto.Marshal(&wire.DeviceList{Total: 1, Devices: []*wire.Device{
		{PeerId: []byte(id), Name: "laptop", FirstLoginUnix: 1, LastSeenUnix: 2, Current: true},
	}})
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var dl wire.DeviceList
		if proto.Unmarshal(b, &dl) != nil {
			return
		}
		devs, err := parseDevices(&dl)
		if err != nil {
			return
		}
		if len(devs) > wire.MaxListedDevices {
			t.Fatalf("accepted %d devices", len(devs))
		}
		for _, d := range devs {
			if d.Peer == "" || len(d.Name) > wire.MaxDeviceName || !utf8.ValidString(d.Name) {
				t.Fatalf("accepted %+v", d)
			}
		}
	})
}

// FuzzParseAccount decodes arbitrary bytes as the account identity of a
// login result or a publish answer: whatever parseAccount accepts is a
// verified list of the account asked for, within the limits, with a sealed
// key within its limit.
func FuzzParseAccount(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	id, _ := peer.Decode("12D3KooWKoi8b6sQUPNknAjUCkCWTzZ6KXV3VWKkwn8zAgEvHj3b")
	sd, err := ticket.SignDevices(key, ticket.Devices{Username: "alice", Version: 1, Devices: []ticket.Device{{Peer: id, BoxKey: make([]byte, 32)}}})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := proto.Marshal(&wire.AccountIdentity{Sealed: []byte("sealed"), Devices: sd})
	f.Add(good)
	big, _ := proto.Marshal(&wire.AccountIdentity{Sealed: make([]byte, wire.MaxAccountKeySealed+1), Devices: sd})
	f.Add(big)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a wire.AccountIdentity
		if proto.Unmarshal(b, &a) != nil {
			return
		}
		d, err := parseAccount(&a, "alice")
		if err != nil {
			return
		}
		if d.Username != "alice" || len(a.Sealed) > wire.MaxAccountKeySealed || len(d.Devices) == 0 || len(d.Devices) > wire.MaxAccountDevices {
			t.Fatalf("accepted %+v with %d sealed bytes", d, len(a.Sealed))
		}
		if _, err := ticket.VerifyDevices(a.Devices); err != nil {
			t.Fatalf("accepted a list that does not verify: %v", err)
		}
	})
}
