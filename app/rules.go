package app

import (
	_ "embed"
	"slices"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2/lang"
)

// The rules a new account meets, shown while the person types rather than
// after a refusal.
//
// Usernames: the auth server's rule (node/wire.ValidUsername; a test holds
// the two to each other). Capitals are folded to lower case, as MSN folded
// addresses, so "Bob" signs up, signs in and is added as "bob".
//
// Passwords: under OPAQUE the auth server never sees the password, so it
// cannot judge one; the client does. At least minPassword characters, not
// the username, and not one of the passwords leaked lists show most often
// (common-passwords.txt), which are the first an attacker tries.

// Username limits, as node/wire has them.
const (
	minUsername = 3
	maxUsername = 32
)

// Password limits: maxPassword is the node's (it refuses longer).
const (
	minPassword = 8
	maxPassword = 1024
)

// usernameRule is the rule in words, shown under the field until the name
// is valid.
func usernameRule() string {
	return lang.L("{{.Min}} to {{.Max}} characters: letters a–z, digits, '.', '_' and '-'.",
		map[string]any{"Min": minUsername, "Max": maxUsername})
}

// passwordRule is the rule in words, shown under the password field.
func passwordRule() string {
	return lang.L("At least {{.Min}} characters, and not a common password such as “password1”.",
		map[string]any{"Min": minPassword})
}

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is the embedded list, lower case.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for line := range strings.Lines(commonPasswordsText) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// foldUsername is what the person typed as a username: trimmed, capitals
// folded to lower case.
func foldUsername(typed string) string { return strings.ToLower(strings.TrimSpace(typed)) }

// usernameProblem says what is wrong with name (already folded), or "" if
// it is a valid username.
func usernameProblem(name string) string {
	n := utf8.RuneCountInString(name)
	var bad []string
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
		case r == ' ':
			if spaces := lang.L("spaces"); !slices.Contains(bad, spaces) {
				bad = append(bad, spaces)
			}
		default:
			if q := lang.L("“{{.Char}}”", map[string]any{"Char": string(r)}); !slices.Contains(bad, q) {
				bad = append(bad, q)
			}
		}
	}
	switch {
	case len(bad) > 0:
		return lang.L("A username cannot have {{.What}}. Use letters a–z, digits, '.', '_' and '-'.", map[string]any{"What": joinOr(bad)})
	case n < minUsername:
		return lang.L("Too short: a username has at least {{.Min}} characters.", map[string]any{"Min": minUsername})
	case len(name) > maxUsername:
		return lang.L("Too long: a username has at most {{.Max}} characters.", map[string]any{"Max": maxUsername})
	}
	return ""
}

// passwordProblem says why password will not do for username, or "".
func passwordProblem(username, password string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case n < minPassword:
		return lang.L("Too short: {{.N}} of at least {{.Min}} characters.", map[string]any{"N": n, "Min": minPassword})
	case len(password) > maxPassword:
		return lang.L("Too long: at most {{.Max}} characters.", map[string]any{"Max": maxPassword})
	case username != "" && strings.EqualFold(strings.TrimSpace(password), username):
		return lang.L("Your password cannot be your username.")
	case commonPasswords[strings.ToLower(password)] || oneCharacter(password):
		return lang.L("That is one of the most common passwords, the first an attacker tries. Please choose another.")
	}
	return ""
}

// oneCharacter reports whether s repeats one character ("zzzzzzzz").
func oneCharacter(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	return strings.Trim(s, string(first)) == ""
}

// joinOr joins words as prose: "a", "a or b", "a, b or c", with the
// language's "or".
func joinOr(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return lang.L("{{.Some}} or {{.Last}}", map[string]any{"Some": strings.Join(words[:len(words)-1], ", "), "Last": words[len(words)-1]})
}
