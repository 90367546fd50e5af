package store

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestIsTokenRuneASCII: the ASCII shortcut keeps exactly what the Unicode
// classes keep.
func TestIsTokenRuneASCII(t *testing.T) {
	for r := rune(0); r < 0x80; r++ {
		want := unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r) || unicode.Is(unicode.Mn, r)
		if got := isTokenRune(r); got != want {
			t.Errorf("isTokenRune(%q) = %v, want %v", r, got, want)
		}
	}
}

// referenceTerms is terms without the cache or the integer tokens: the
// base32 of each keyed token, as the index was first written, sorted and
// without repeats.
func referenceTerms(t *tokenizer, peer, text string) string {
	mac := func(kind byte, s string) string {
		t.mac.Reset()
		t.mac.Write(append([]byte{kind}, s...))
		sum := t.mac.Sum(nil)
		// base32 of the first 10 bytes, cut to indexTokenLen characters.
		var b strings.Builder
		var acc uint64
		bits := 0
		for _, c := range sum[:10] {
			acc = acc<<8 | uint64(c)
			bits += 8
			for bits >= 5 {
				bits -= 5
				b.WriteByte(tokenAlphabet[acc>>bits&31])
			}
		}
		return b.String()[:indexTokenLen]
	}
	toks := []string{mac('c', peer)}
	for _, w := range tokenize(text) {
		toks = append(toks, mac('w', w.norm))
		for i := range []rune(w.norm) {
			if i == prefixMax {
				break
			}
			toks = append(toks, mac('p', string([]rune(w.norm)[:i+1])))
		}
	}
	slices.Sort(toks)
	return strings.Join(slices.Compact(toks), " ")
}

// asSet checks that terms' tokens come in one fixed order (that of their
// bits, which says nothing of the words') without repeats, and returns them
// in the reference's order.
func asSet(t *testing.T, terms string) string {
	toks := strings.Fields(terms)
	bits := func(s string) uint64 {
		var v uint64
		for i := range len(s) {
			v = v<<5 | uint64(strings.IndexByte(tokenAlphabet, s[i]))
		}
		return v
	}
	for i := 1; i < len(toks); i++ {
		if bits(toks[i-1]) >= bits(toks[i]) {
			t.Fatalf("terms %q: out of order or repeated at %d", terms, i)
		}
	}
	slices.Sort(toks)
	return strings.Join(toks, " ")
}

// FuzzTerms holds terms (cached tokens, sorted as integers) to the
// reference, for the same text twice (the second from the cache) and
// across conversations.
func FuzzTerms(f *testing.F) {
	for _, seed := range []string{"hello world", "Hello HELLO hello", "", "café Grüße", "e\u0301clair", "你好 世界",
		"a\xffb", "don't e-mail", "x y z x", strings.Repeat("lunch ", 50)} {
		f.Add("bob", seed)
	}
	k, err := deriveHistoryKeys(testKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, peer, text string) {
		tok, ref := k.tokenizer(), k.tokenizer()
		want := referenceTerms(ref, peer, text)
		for i := range 2 {
			if got := asSet(t, tok.terms(peer, text)); got != want {
				t.Fatalf("terms(%q, %q), call %d:\n%s\nwant\n%s", peer, text, i, got, want)
			}
		}
		if got, want := asSet(t, tok.terms(peer+"x", text)), referenceTerms(ref, peer+"x", text); got != want {
			t.Fatalf("terms in another conversation:\n%s\nwant\n%s", got, want)
		}
	})
}

// FuzzMayMatch holds mayMatch to what it promises: never false where
// matchText finds the query.
func FuzzMayMatch(f *testing.F) {
	for _, seed := range [][2]string{{"Hello World", "hel"}, {"café", "cafe"}, {"CAFE au lait", "café"}, {"don't", "don't"},
		{"e-mail me", "e-mail"}, {"x\xffy", "y"}, {"İstanbul", "i"}, {"K", "k"}, {"ǅ", "ǆ"}, {"abc", "abd"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, text, query string) {
		phrases, err := parseQuery(query)
		if err != nil {
			return
		}
		if _, ok := matchText(text, phrases); ok && !mayMatch(text, phrases) {
			t.Fatalf("mayMatch(%q, %q) is false, but matchText finds it", text, query)
		}
	})
}

// BenchmarkTerms measures the index row of one message of benchHistory's
// text (the cache warm, as in a long history): the tokenizing part of
// indexing, which the indexer does for every message.
func BenchmarkTerms(b *testing.B) {
	k, err := deriveHistoryKeys(testKey)
	if err != nil {
		b.Fatal(err)
	}
	ms := benchHistory(benchMessages)(10_000)
	tok := k.tokenizer()
	for i := range ms {
		tok.terms(ms[i].Peer, ms[i].Text)
	}
	i := 0
	for b.Loop() {
		m := &ms[i%len(ms)]
		tok.terms(m.Peer, m.Text)
		i++
	}
}
