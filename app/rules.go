package app

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
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
var usernameRule = fmt.Sprintf("%d to %d characters: letters a–z, digits, '.', '_' and '-'.", minUsername, maxUsername)

// passwordRule is the rule in words, shown under the password field.
var passwordRule = fmt.Sprintf("At least %d characters, and not a common password such as \u201cpassword1\u201d.", minPassword)

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
			if !slices.Contains(bad, "spaces") {
				bad = append(bad, "spaces")
			}
		default:
			if q := fmt.Sprintf("\u201c%c\u201d", r); !slices.Contains(bad, q) {
				bad = append(bad, q)
			}
		}
	}
	switch {
	case len(bad) > 0:
		return "A username cannot have " + joinOr(bad) + ". Use letters a–z, digits, '.', '_' and '-'."
	case n < minUsername:
		return fmt.Sprintf("Too short: a username has at least %d characters.", minUsername)
	case len(name) > maxUsername:
		return fmt.Sprintf("Too long: a username has at most %d characters.", maxUsername)
	}
	return ""
}

// passwordProblem says why password will not do for username, or "".
func passwordProblem(username, password string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case n < minPassword:
		return fmt.Sprintf("Too short: %d of at least %d characters.", n, minPassword)
	case len(password) > maxPassword:
		return fmt.Sprintf("Too long: at most %d characters.", maxPassword)
	case username != "" && strings.EqualFold(strings.TrimSpace(password), username):
		return "Your password cannot be your username."
	case commonPasswords[strings.ToLower(password)] || oneCharacter(password):
		return "That is one of the most common passwords, the first an attacker tries. Please choose another."
	}
	return ""
}

// oneCharacter reports whether s repeats one character ("zzzzzzzz").
func oneCharacter(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	return strings.Trim(s, string(first)) == ""
}

// joinOr joins words as prose: "a", "a or b", "a, b or c".
func joinOr(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
