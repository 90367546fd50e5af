package pake

import (
	"errors"
	"testing"
)

// TestServerShareClient: a server-share client registers and logs in with
// the server unchanged; its records differ from a default client's for
// the same password (the stretch is part of the password's derivation),
// so neither kind of client logs in to the other's account.
func TestServerShareClient(t *testing.T) {
	s := newServer(t)
	cheap := func(user string) (*Client, error) { return NewServerShareClient(user) }
	run := func(newClient func(string) (*Client, error), user, pw string, record []byte) (clientErr, serverErr error) {
		t.Helper()
		c, err := newClient(user)
		if err != nil {
			t.Fatal(err)
		}
		ke1, err := c.LoginStart([]byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		ke2, p, err := s.StartLogin(user, record, ke1)
		if err != nil {
			t.Fatal(err)
		}
		ke3, _, clientErr := c.LoginFinish(ke2)
		if clientErr != nil {
			return clientErr, nil
		}
		return nil, p.Finish(ke3)
	}
	c, err := NewServerShareClient("bench")
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.RegistrationStart([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.RegistrationResponse("bench", req)
	if err != nil {
		t.Fatal(err)
	}
	cheapRec, err := c.RegistrationFinish(resp)
	if err != nil {
		t.Fatal(err)
	}
	defaultRec := register(t, s, "alice", "pw")
	for _, tc := range []struct {
		name      string
		newClient func(string) (*Client, error)
		user      string
		record    []byte
		ok        bool
	}{
		{"server-share client, its own account", cheap, "bench", cheapRec, true},
		{"default client, a server-share account", NewClient, "bench", cheapRec, false},
		{"server-share client, a default account", cheap, "alice", defaultRec, false},
	} {
		cerr, serr := run(tc.newClient, tc.user, "pw", tc.record)
		if tc.ok && (cerr != nil || serr != nil) {
			t.Errorf("%s: client %v, server %v", tc.name, cerr, serr)
		}
		if !tc.ok && !errors.Is(cerr, ErrAuth) {
			t.Errorf("%s: client %v, server %v, want the client's %v", tc.name, cerr, serr, ErrAuth)
		}
	}
}
