package app

import (
	"time"

	"eserver/node/api"
	"eserver/node/api/apitest"
)

// fakeAPI is the front ends' shared api.API fake. Tests set its results
// before acting and push events with App.apply (or through Events, which
// Watch returns as it is: the fake has no Snapshot).
type fakeAPI = apitest.Fake

// newFakeAPI returns the fake with the two devices the app's tests expect.
func newFakeAPI() *fakeAPI {
	f := apitest.New()
	now := time.Now()
	f.DeviceList = []api.Device{
		{PeerID: "12D3KooWself", Name: "laptop", FirstLogin: now, LastSeen: now, Current: true, Online: true, Listed: true},
		{PeerID: "12D3KooWphone", Name: "phone", FirstLogin: now, LastSeen: now, Listed: true},
	}
	return f
}
