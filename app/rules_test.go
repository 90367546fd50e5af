package app

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"eserver/node/api"
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

// TestRulesInLanguage (issue 23): a refusal is one sentence in the
// person's language — its list joined with the language's "or", its
// characters quoted as the language quotes — and errorText and the status
// names follow the language too.
func TestRulesInLanguage(t *testing.T) {
	tests := []struct {
		code, username, status, unknown string
	}{
		{"es", "Un nombre de usuario no puede contener espacios o “!”.", "Salí a comer", "Algo salió mal."},
		{"pt-BR", "Um nome de usuário não pode conter espaços ou “!”.", "Saí para almoçar", "Algo deu errado."},
		{"de", "Ein Benutzername darf keine Leerzeichen oder „!“ enthalten.", "Beim Essen", "Etwas ist schiefgelaufen."},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			useLanguageForTest(t, tt.code)
			if got := usernameProblem("bob smith!"); !strings.HasPrefix(got, tt.username) {
				t.Errorf("usernameProblem = %q, want it to begin %q", got, tt.username)
			}
			if got := statusLabel(api.StatusLunch); got != tt.status {
				t.Errorf("statusLabel = %q, want %q", got, tt.status)
			}
			if got := errorText(errors.New("disk full")); !strings.HasPrefix(got, tt.unknown) || strings.Contains(got, "disk full") {
				t.Errorf("errorText = %q, want it to begin %q and keep the detail to the log", got, tt.unknown)
			}
		})
	}
}
