package node

import (
	"errors"
	"testing"

	"eserver/node/api"
)

// TestSafetyNumbers: two contacts see the same safety number; each verifies
// the other with the other's code (a wrong code changes nothing); when bob
// moves to a new device (a reinstall), it opens his account identity, so
// alice sees no warning and keeps his number and her verification (a new
// account identity warns: account.TestAdmit).
func TestSafetyNumbers(t *testing.T) {
	server := testServer(t)
	alice, bob := friends(t, server)

	sa, err := alice.SafetyNumber(ctx(t), "bob")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bob.SafetyNumber(ctx(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if sa.Number != sb.Number || len(sa.Number) != 60+11 || sa.Verified || sa.Code == sb.Code {
		t.Fatalf("alice sees %+v, bob %+v", sa, sb)
	}
	if _, err := alice.SafetyNumber(ctx(t), "nobody"); !errors.Is(err, api.ErrNotContact) {
		t.Fatalf("safety number of a stranger: %v", err)
	}

	// Alice's own code is not bob's: refused, nothing recorded.
	if err := alice.VerifyContact(ctx(t), api.Verification{Username: "bob", Verified: true, Code: sa.Code}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("verifying with the wrong code: %v", err)
	}
	if err := alice.VerifyContact(ctx(t), api.Verification{Username: "bob", Verified: true, Code: "not base64!"}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("verifying with garbage: %v", err)
	}
	if cs, _ := alice.Contacts(ctx(t)); cs[0].Verified {
		t.Fatal("a refused verification counted")
	}
	if err := alice.VerifyContact(ctx(t), api.Verification{Username: "bob", Verified: true, Code: sb.Code}); err != nil {
		t.Fatalf("verifying with bob's code: %v", err)
	}
	if cs, _ := alice.Contacts(ctx(t)); !cs[0].Verified || cs[0].KeyChanged != nil {
		t.Fatalf("after verification: %+v", cs[0])
	}
	if s, _ := alice.SafetyNumber(ctx(t), "bob"); !s.Verified {
		t.Fatal("safety number not marked verified")
	}

	// Bob reinstalls: a new device of the same account, which opens the
	// same account identity and adds itself to the list it signs. Alice
	// sees no warning, and his number and her verification stay.
	bs, _ := bob.current()
	waitUntil(t, "bob's list backed up", func() bool { return bs.contacts.BackupVersion() > 0 })
	bob.stop()
	bob.dir = t.TempDir()
	bob.open()
	bob.login()
	if _, err := bob.Send(ctx(t), "alice", "it's me, on a new laptop"); err != nil {
		t.Fatal(err)
	}
	alice.collect("bob", 1)
	cs, _ := alice.Contacts(ctx(t))
	if cs[0].KeyChanged != nil || !cs[0].Verified {
		t.Fatalf("after bob's new device: %+v", cs[0])
	}
	s2, err := alice.SafetyNumber(ctx(t), "bob")
	if err != nil || s2.Number != sa.Number || !s2.Verified {
		t.Fatalf("safety number after bob's new device: %+v, %v (before %s)", s2, err, sa.Number)
	}
}
