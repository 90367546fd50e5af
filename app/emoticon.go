package app

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"

	"eserver/assets"
)

// Emoticons in message text, as MSN showed them: a code such as ":)" or
// "(y)" becomes its picture. MSN replaced codes anywhere, which mangled
// URLs and words ("c:Program", "std::Pair"); we follow one rule instead:
//
//   - Inside a URL-like word (one containing "://", or starting with "www."
//     or "mailto:") nothing is replaced.
//   - A code with a letter or digit directly on both sides is part of a word
//     and stays text: "a:)b" is text, while "hey:)" and ":)b" are smileys.
//   - A code that ends in a letter or digit (":D", ":P", "<3") stays text when
//     a letter or digit follows it: ":Dear", "c:Stuff", "i<3u" are text.
//
// Where codes overlap the longest wins (":-)" over nothing shorter, ":'("
// before ":(").

// textPiece is a run of a message: plain text, or one emoticon's code.
type textPiece struct {
	Text     string
	Emoticon bool // Text is an emoticon code (assets.EmoticonByCode knows it)
	Bold     bool // a text piece shown in bold: words a search matched
}

// emoticonCodes are all codes, longest first, so the longest match wins.
var emoticonCodes = func() []string {
	var codes []string
	for _, e := range assets.Emoticons {
		codes = append(codes, e.Codes...)
	}
	sort.SliceStable(codes, func(i, j int) bool { return len(codes[i]) > len(codes[j]) })
	return codes
}()

// emoticonResources are the emoticons' pictures for Fyne, by code.
var emoticonResources = func() map[string]fyne.Resource {
	m := map[string]fyne.Resource{}
	for _, e := range assets.Emoticons {
		r := fyne.NewStaticResource("emoticon-"+e.Name+".png", e.PNG)
		for _, c := range e.Codes {
			m[c] = r
		}
	}
	return m
}()

// parseEmoticons splits s into text and emoticon codes. Joining the pieces'
// Text gives back s exactly; text pieces are never empty nor adjacent.
func parseEmoticons(s string) []textPiece {
	var out []textPiece
	start := 0 // where the pending text piece starts
	flush := func(end int) {
		if end > start {
			out = append(out, textPiece{Text: s[start:end]})
		}
	}
	urlEnd := -1 // inside a URL-like word until here
	for i := 0; i < len(s); {
		if i >= urlEnd && (i == 0 || isSpaceBefore(s, i)) {
			if end := wordEnd(s, i); isURLWord(s[i:end]) {
				urlEnd = end
			}
		}
		if i < urlEnd {
			i = urlEnd
			continue
		}
		if code := emoticonAt(s, i); code != "" {
			flush(i)
			out = append(out, textPiece{Text: code, Emoticon: true})
			i += len(code)
			start = i
			continue
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	flush(len(s))
	return out
}

// emoticonAt is the code that starts at s[i] under the rule above, or "".
func emoticonAt(s string, i int) string {
	rest := s[i:]
	for _, code := range emoticonCodes {
		if !strings.HasPrefix(rest, code) {
			continue
		}
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(rest[len(code):])
		last, _ := utf8.DecodeLastRuneInString(code)
		if wordRune(after) && (wordRune(before) || wordRune(last)) {
			continue
		}
		return code
	}
	return ""
}

// wordRune reports whether r is part of a word (RuneError, for the
// start and end of the text, is not).
func wordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

func isSpaceBefore(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsSpace(r)
}

// wordEnd is where the word starting at s[i] ends: the next space or the end.
func wordEnd(s string, i int) int {
	if j := strings.IndexFunc(s[i:], unicode.IsSpace); j >= 0 {
		return i + j
	}
	return len(s)
}

func isURLWord(w string) bool {
	l := strings.ToLower(w)
	return strings.Contains(l, "://") || strings.HasPrefix(l, "www.") || strings.HasPrefix(l, "mailto:")
}
