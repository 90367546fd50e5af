package pake

import (
	"bytes"
	"errors"
	"testing"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	keys, err := GenerateServerKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func register(t *testing.T, s *Server, user, pw string) []byte {
	t.Helper()
	c, err := NewClient(user)
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.RegistrationStart([]byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.RegistrationResponse(user, req)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := c.RegistrationFinish(resp)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckRecord(rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// login runs a whole login and returns KE2, the client's error and the
// server's error (nil when the client did not get as far as KE3).
func login(t *testing.T, s *Server, user, pw string, record []byte) (ke2 []byte, clientErr, serverErr error) {
	t.Helper()
	c, err := NewClient(user)
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
		return ke2, clientErr, nil
	}
	return ke2, nil, p.Finish(ke3)
}

func TestRoundTrip(t *testing.T) {
	s := newServer(t)
	rec := register(t, s, "alice", "correct horse")
	realKE2, cerr, serr := login(t, s, "alice", "correct horse", rec)
	if cerr != nil || serr != nil {
		t.Fatalf("login: client %v, server %v", cerr, serr)
	}

	tests := []struct {
		name, user, pw string
		record         []byte
	}{
		{"wrong password", "alice", "wrong", rec},
		{"unknown user", "mallory", "anything", nil},
		{"record of another user", "bob", "correct horse", rec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ke2, cerr, serr := login(t, s, tt.user, tt.pw, tt.record)
			if !errors.Is(cerr, ErrAuth) {
				t.Fatalf("client error %v, want ErrAuth (server %v)", cerr, serr)
			}
			if len(ke2) != len(realKE2) {
				t.Fatalf("KE2 is %d bytes, a real one %d", len(ke2), len(realKE2))
			}
		})
	}
}

// A client that skips the check and sends a made-up KE3 is refused by the
// server, for a real and an unknown user alike.
func TestForgedKE3(t *testing.T) {
	s := newServer(t)
	rec := register(t, s, "alice", "pw-alice")
	for _, record := range [][]byte{rec, nil} {
		c, _ := NewClient("alice")
		ke1, err := c.LoginStart([]byte("guess"))
		if err != nil {
			t.Fatal(err)
		}
		_, p, err := s.StartLogin("alice", record, ke1)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Finish(make([]byte, 64)); !errors.Is(err, ErrAuth) {
			t.Fatalf("forged KE3: %v, want ErrAuth", err)
		}
		if err := p.Finish(make([]byte, 64)); !errors.Is(err, ErrAuth) {
			t.Fatalf("second Finish: %v, want ErrAuth", err)
		}
	}
}

func TestMalformed(t *testing.T) {
	s := newServer(t)
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 32), make([]byte, 4096)} {
		if _, err := s.RegistrationResponse("alice", b); !errors.Is(err, ErrMalformed) {
			t.Errorf("registration request %d bytes: %v", len(b), err)
		}
		if _, _, err := s.StartLogin("alice", nil, b); !errors.Is(err, ErrMalformed) {
			t.Errorf("KE1 %d bytes: %v", len(b), err)
		}
		if err := s.CheckRecord(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("record %d bytes: %v", len(b), err)
		}
	}
	if _, err := NewServer([]byte("junk")); err == nil {
		t.Error("NewServer accepted junk keys")
	}
	c, _ := NewClient("alice")
	if _, _, err := c.LoginFinish(nil); !errors.Is(err, ErrState) {
		t.Errorf("LoginFinish before LoginStart: %v", err)
	}
}

func FuzzServerMessages(f *testing.F) {
	keys, err := GenerateServerKeys()
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewServer(keys)
	if err != nil {
		f.Fatal(err)
	}
	c, _ := NewClient("alice")
	ke1, _ := c.LoginStart([]byte("pw"))
	f.Add(ke1)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = s.RegistrationResponse("alice", b)
		_ = s.CheckRecord(b)
		if _, p, err := s.StartLogin("alice", nil, b); err == nil {
			if p.Finish(b) == nil {
				t.Fatal("fuzzed KE3 accepted")
			}
		}
	})
}

// TestExportKey: the export key of a registration and of every later login
// with the same password agree; another password, another registration with
// the same password, and a failed login do not give it.
func TestExportKey(t *testing.T) {
	s := newServer(t)
	regKey := func(user, pw string) ([]byte, []byte) {
		t.Helper()
		c, err := NewClient(user)
		if err != nil {
			t.Fatal(err)
		}
		if c.ExportKey() != nil {
			t.Fatal("export key before registration")
		}
		req, err := c.RegistrationStart([]byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.RegistrationResponse(user, req)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := c.RegistrationFinish(resp)
		if err != nil {
			t.Fatal(err)
		}
		return rec, c.ExportKey()
	}
	loginKey := func(user, pw string, rec []byte) ([]byte, error) {
		t.Helper()
		c, err := NewClient(user)
		if err != nil {
			t.Fatal(err)
		}
		ke1, err := c.LoginStart([]byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		ke2, _, err := s.StartLogin(user, rec, ke1)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.LoginFinish(ke2)
		return c.ExportKey(), err
	}

	rec, reg := regKey("alice", "correct horse")
	if len(reg) < 32 {
		t.Fatalf("export key of %d bytes", len(reg))
	}
	for i := range 2 {
		got, err := loginKey("alice", "correct horse", rec)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if !bytes.Equal(got, reg) {
			t.Fatalf("login %d: export key differs from the registration's", i)
		}
	}
	if got, err := loginKey("alice", "wrong", rec); !errors.Is(err, ErrAuth) || got != nil {
		t.Fatalf("wrong password: key %x, err %v", got, err)
	}
	_, again := regKey("alice", "correct horse")
	if bytes.Equal(again, reg) {
		t.Fatal("a new registration kept the export key")
	}
	// The accessor hands out copies.
	c, _ := NewClient("bob")
	c.exportKey = []byte{1, 2, 3}
	c.ExportKey()[0] = 9
	if c.exportKey[0] != 1 {
		t.Fatal("ExportKey returned the client's own slice")
	}
}
