package main

import "testing"

// TestDefaultServer: a profile that signed in at a community's server
// goes back to it when the messenger starts without --server — before,
// the bundled server took its place, and the user's account "did not
// exist" there — and a new profile gets the bundled one.
func TestDefaultServer(t *testing.T) {
	const community = "/ip4/192.0.2.1/tcp/1864/p2p/12D3KooWL2T25oSi6RxZotchzmzbUdkFzvZ7soQxVQbBUtZrtEbm"
	const bundled = "/ip4/127.0.0.1/tcp/1864/p2p/12D3KooWEnCUQ1ygFF68VG8XumS7VokV9Gi1JaUT5sTTrXNaozWw"
	for _, tc := range []struct {
		name, remembered, want string
	}{
		{"a new profile", "", bundled},
		{"signed in at a community's server", community, community},
		{"signed in at the bundled one", bundled, bundled},
	} {
		if got := defaultServer(tc.remembered, bundled); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
