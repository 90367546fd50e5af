package app

import (
	"math/rand/v2"
	"strings"
	"testing"

	"eserver/node/wire"
)

// TestUsernameRuleAgrees holds the app's username rule, which explains
// itself as the person types, to the one the auth server enforces: a name
// the app calls valid is one the server takes, and the other way round.
func TestUsernameRuleAgrees(t *testing.T) {
	names := []string{"", "ab", "abc", "a.b", "a_b-c", "bob smith", "Bob", "bob!", "é-bob", strings.Repeat("x", 32),
		strings.Repeat("x", 33), "日本語です", "..."}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcxyz019._-A !é"
	for range 2000 {
		n := r.IntN(36)
		var b strings.Builder
		for range n {
			b.WriteString(string([]rune(alphabet)[r.IntN(len([]rune(alphabet)))]))
		}
		names = append(names, b.String())
	}
	for _, name := range names {
		app, server := usernameProblem(name) == "", wire.ValidUsername(name) == nil
		if app != server {
			t.Errorf("%q: app says valid=%v, server says valid=%v (%q)", name, app, server, usernameProblem(name))
		}
	}
}

// TestCommonPasswords: the embedded list is loaded, and every entry is one
// the length rule alone would let through (shorter ones need no list).
func TestCommonPasswords(t *testing.T) {
	if len(commonPasswords) < 100 {
		t.Fatalf("%d common passwords loaded", len(commonPasswords))
	}
	for p := range commonPasswords {
		if len([]rune(p)) < minPassword {
			t.Errorf("%q is shorter than %d: the length rule refuses it already", p, minPassword)
		}
		if passwordProblem("someone", strings.ToUpper(p)) == "" {
			t.Errorf("%q in capitals is accepted", p)
		}
	}
}
