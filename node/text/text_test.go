package text

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Alice Smith", "Alice Smith"},
		{"empty", "", ""},
		{"right-to-left override in a file name", "invoice\u202efdp.exe", "invoicefdp.exe"},
		{"every bidi control", "a\u202ab\u202bc\u202cd\u202de\u202ef\u2066g\u2067h\u2068i\u2069j\u200ek\u200fl\u061cm", "abcdefghijklm"},
		{"zero width space", "pay\u200bpal", "paypal"},
		{"soft hyphen and word joiner", "ad\u00admin\u2060", "admin"},
		{"byte order mark", "\ufeffbob", "bob"},
		{"interlinear annotation", "x\ufff9y\ufffaz\ufffb", "xyz"},
		{"line breaks become spaces", "one\ntwo\r\nthree\u2028four\u2029five", "one two  three four five"},
		{"tab becomes a space", "a\tb", "a b"},
		{"other controls go", "bell\a esc\x1b[31m del\x7f c1\u009b", "bell esc[31m del c1"},
		{"invalid UTF-8 goes", "ab\xffcd\xc3", "abcd"},
		{"replacement character stays", "a\ufffdb", "a\ufffdb"},
		{"emoji ZWJ sequence", "👩\u200d💻 coder", "👩\u200d💻 coder"},
		{"family", "👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"},
		{"skin tone before ZWJ", "👩🏽\u200d🚀", "👩🏽\u200d🚀"},
		{"presentation selector before ZWJ", "❤\ufe0f\u200d🔥", "❤\ufe0f\u200d🔥"},
		{"ZWJ between Latin letters", "ad\u200dmin", "admin"},
		{"ZWJ at the ends", "\u200dadmin\u200d", "admin"},
		{"ZWJ after an emoji before a letter", "😀\u200da", "😀a"},
		{"ZWNJ in Persian", "می\u200cخواهم", "می\u200cخواهم"},
		{"ZWJ in Devanagari", "क\u094d\u200dष", "क\u094d\u200dष"},
		{"ZWNJ between Latin letters", "a\u200cb", "ab"},
		{"two joiners in a row", "👩\u200d\u200d💻", "👩💻"},
		{"joiner hidden by a stripped override", "👩\u200d\u202e💻", "👩\u200d💻"},
		{"flag of England", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"},
		{"stray tags", "ab\U000e0067\U000e007fc", "abc"},
		{"Arabic letters keep their order", "مرحبا", "مرحبا"},
		{"combining marks stay", "e\u0301", "e\u0301"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Clean(tc.in)
			if got != tc.want {
				t.Fatalf("Clean(%+q) = %+q, want %+q", tc.in, got, tc.want)
			}
			if again := Clean(got); again != got {
				t.Fatalf("Clean is not idempotent: %+q → %+q", got, again)
			}
		})
	}
}

// FuzzClean: whatever a peer sends, the result is valid UTF-8 no longer
// than the input, holds no control, bidi or other format character but
// joiners between the characters that use them and tags after a flag, and
// cleaning it again changes nothing.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "invoice\u202efdp.exe", "👩\u200d💻", "می\u200cخواهم", "a\x00b\xff", "🏴\U000e0067\U000e007f",
		"\u200d\u200c\u200d", "x\u2028y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Clean(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Clean(%+q) = %+q is not valid UTF-8", s, got)
		}
		if len(got) > len(s) {
			t.Fatalf("Clean(%+q) grew to %d bytes from %d", s, len(got), len(s))
		}
		if again := Clean(got); again != got {
			t.Fatalf("Clean not idempotent on %+q: %+q → %+q", s, got, again)
		}
		rs := []rune(got)
		for k, r := range rs {
			switch {
			case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
				t.Fatalf("Clean(%+q) = %+q keeps control %U", s, got, r)
			case r == zwj || r == zwnj:
				if k == 0 || k == len(rs)-1 || !joins(r, rs[k-1], rs[k+1]) {
					t.Fatalf("Clean(%+q) = %+q keeps a stray joiner at %d", s, got, k)
				}
			case isTag(r):
				if k == 0 || (rs[k-1] != blackFlag && !isTag(rs[k-1])) {
					t.Fatalf("Clean(%+q) = %+q keeps a stray tag at %d", s, got, k)
				}
			case unicode.Is(unicode.Cf, r):
				t.Fatalf("Clean(%+q) = %+q keeps format character %U", s, got, r)
			}
		}
		// Nothing else is touched: the input's ordinary characters are all
		// there, in order.
		var plain strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			i += n
			if (r != utf8.RuneError || n > 1) && !unicode.IsControl(r) && !unicode.Is(unicode.Cf, r) && !isTag(r) && r != '\u2028' && r != '\u2029' {
				plain.WriteRune(r)
			}
		}
		kept := strings.Map(func(r rune) rune {
			if r == zwj || r == zwnj || isTag(r) || r == ' ' {
				return -1
			}
			return r
		}, got)
		want := strings.ReplaceAll(plain.String(), " ", "")
		if kept != want {
			t.Fatalf("Clean(%+q) = %+q lost or changed ordinary characters", s, got)
		}
	})
}
