// Package text makes strings a peer chose safe to show: nicks, personal
// messages, file names, stream labels — anything another user's device
// sends that the front ends display as a name or a line.
//
// The danger is not in what such a string says but in how it is drawn.
// Unicode's bidirectional controls reorder what follows them: the file
// name "invoice\u202Efdp.exe" is drawn as "invoiceexe.pdf". Other format
// characters (category Cf) are invisible and make two names that look the
// same differ, and control characters break lines or move the cursor. So
// Clean strips them. It strips rather than refuses: the offer of a file or
// a contact's nick is still worth having, shown as what it really is.
//
// Two format characters are part of writing, not tricks, and are kept where
// writing needs them: ZERO WIDTH JOINER (U+200D) between emoji, which joins
// 👩 and 💻 into one 👩‍💻, and ZWJ and ZERO WIDTH NON-JOINER (U+200C) between
// letters of the scripts that shape with them (Arabic and Persian, the
// Indic scripts, Sinhala, Mongolian and others: joiningScripts); anywhere
// else they only hide, and go. Tag characters are kept only in an emoji tag sequence (the
// flags of England, Scotland, Wales: 🏴 followed by tags).
package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	zwnj      = '\u200C'
	zwj       = '\u200D'
	blackFlag = '\U0001F3F4'
	tagFirst  = '\U000E0020'
	tagLast   = '\U000E007F' // CANCEL TAG ends a tag sequence
)

// Clean returns s without the characters that could make it show as
// something it is not: bidirectional controls, other format characters
// (except the joiners where writing needs them, see the package comment)
// and control characters. Whitespace controls, LINE SEPARATOR and
// PARAGRAPH SEPARATOR become a space, so words stay apart on one line;
// invalid UTF-8 is dropped. The result is valid UTF-8, never longer than
// s, and Clean(Clean(s)) == Clean(s).
func Clean(s string) string {
	if isClean(s) {
		return s
	}
	// First pass: everything but the joiners is decided by the character
	// alone (tags by the character before them, as kept).
	rs := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError && n <= 1:
			// invalid UTF-8: dropped
		case r == zwj || r == zwnj:
			rs = append(rs, r) // decided below, between what is kept
		case r >= tagFirst && r <= tagLast:
			if len(rs) > 0 && (rs[len(rs)-1] == blackFlag || isTag(rs[len(rs)-1])) {
				rs = append(rs, r)
			}
		case isSpaceControl(r):
			rs = append(rs, ' ')
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			// bidi controls, invisible format characters, C0 and C1
		default:
			rs = append(rs, r)
		}
	}
	// Second pass: a joiner stays only between two characters that use it.
	var b strings.Builder
	b.Grow(len(s))
	for k, r := range rs {
		if r == zwj || r == zwnj {
			if k == 0 || k == len(rs)-1 || !joins(r, rs[k-1], rs[k+1]) {
				continue
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isClean reports whether Clean would return s unchanged with no joiner
// or tag to judge: the common case, checked without allocating.
func isClean(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r == zwj || r == zwnj || isTag(r) || unicode.IsControl(r) ||
			unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

func isTag(r rune) bool { return r >= tagFirst && r <= tagLast }

// isSpaceControl reports whether r breaks or spaces a line: it shows as a
// space in a one-line name.
func isSpaceControl(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// joins reports whether joiner j between a and b is part of writing: ZWJ
// inside an emoji sequence, or either joiner between letters (or marks) of
// a script that shapes with them.
func joins(j, a, b rune) bool {
	if j == zwj && emojiEnd(a) && emoji(b) {
		return true
	}
	return joiningScript(a) && joiningScript(b)
}

// emoji reports whether r can start an emoji's part of a ZWJ sequence:
// pictographs and symbols (category So: 👩, 💻, ♀, ❤).
func emoji(r rune) bool { return unicode.Is(unicode.So, r) }

// emojiEnd reports whether r can end the part before a ZWJ: an emoji, a
// skin-tone modifier or the emoji presentation selector (❤️‍🔥 is ❤ FE0F ZWJ 🔥),
// or the tags of a flag.
func emojiEnd(r rune) bool {
	return emoji(r) || (r >= '\U0001F3FB' && r <= '\U0001F3FF') || r == '\uFE0F' || isTag(r)
}

// joiningScripts are the scripts whose writing uses ZWJ and ZWNJ to choose
// how letters connect or form conjuncts. Elsewhere (Latin, Greek,
// Cyrillic, Han, ...) an invisible joiner changes nothing but what a name
// compares equal to.
var joiningScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mandaic, unicode.Mongolian, unicode.Thaana,
	unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati, unicode.Oriya, unicode.Tamil,
	unicode.Telugu, unicode.Kannada, unicode.Malayalam, unicode.Sinhala, unicode.Tibetan, unicode.Myanmar,
	unicode.Khmer, unicode.Balinese, unicode.Javanese,
}

// joiningScript reports whether r is a letter or mark of a joining script.
func joiningScript(r rune) bool {
	return (unicode.IsLetter(r) || unicode.IsMark(r)) && unicode.In(r, joiningScripts...)
}
