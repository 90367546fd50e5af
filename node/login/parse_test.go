package login

import (
	"testing"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

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
