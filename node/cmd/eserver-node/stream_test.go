package main

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"eserver/node/nodetest"
)

// TestStreamPipes: `stream send bob < data` in alice's profile and
// `stream receive > out` in bob's carry the bytes whole, as separate
// processes signing in with the password from the environment.
func TestStreamPipes(t *testing.T) {
	server := nodetest.Server(t)
	alice, bob := contactAccounts(t, server)

	data := make([]byte, 2<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	recv := cli(bob.profile, "b-pass", "--user", "bob", "--from", "alice", "stream", "receive")
	recv.Stdout = &got
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- recv.Wait() }()
	send := cli(alice.profile, "a-pass", "--user", "alice", "--label", "test data", "stream", "send", "bob")
	send.Stdin = bytes.NewReader(data)
	if err := send.Run(); err != nil {
		t.Fatalf("stream send: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stream receive: %v", err)
		}
	case <-time.After(60 * time.Second):
		recv.Process.Kill()
		t.Fatal("stream receive did not finish")
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("received %d bytes, want the %d sent", got.Len(), len(data))
	}
}

// contactAccounts makes the accounts alice (password a-pass) and bob
// (b-pass) at server, each the other's contact, with daemons that then
// sign out and exit: the commands under test sign in on their own, in
// the daemons' profiles.
func contactAccounts(t *testing.T, server string) (alice, bob *daemon) {
	t.Helper()
	// Accounts and the contact relation, made with daemons that then exit.
	alice, bob = startDaemon(t), startDaemon(t)
	alice.signIn(server, "alice", "a-pass")
	bob.signIn(server, "bob", "b-pass")
	befriend(alice, bob)
	alice.call("logout", map[string]any{}, "")
	bob.call("logout", map[string]any{}, "")
	alice.stop()
	bob.stop()
	return alice, bob
}
