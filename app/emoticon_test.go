package app

import (
	"strings"
	"testing"
	"unicode/utf8"

	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"

	"eserver/assets"
)

// pieceString shows pieces compactly: emoticons in brackets.
func pieceString(ps []textPiece) string {
	var b strings.Builder
	for _, p := range ps {
		if p.Emoticon {
			b.WriteString("[" + p.Text + "]")
		} else {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

func TestParseEmoticons(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"hello", "hello"},
		{"hi :) (y)", "hi [:)] [(y)]"},
		{":-) :'( <3 (L) (*) (^)", "[:-)] [:'(] [<3] [(L)] [(*)] [(^)]"},
		{":D :-D :P :p :O :@ :S :$ :| ;) :(", "[:D] [:-D] [:P] [:p] [:O] [:@] [:S] [:$] [:|] [;)] [:(]"},
		{"(H)(A)(Y)(N)(n)(U)(K)(F)(C)(B)(6)(8)", "[(H)][(A)][(Y)][(N)][(n)][(U)][(K)][(F)][(C)][(B)][(6)][(8)]"},
		// Inside a word: letters or digits on both sides keep it text.
		{"a:)b", "a:)b"},
		{"hey:)", "hey[:)]"},
		{":)b", "[:)]b"},
		{"(y)es", "[(y)]es"},
		// Codes ending in a letter or digit stay text before one.
		{":Dear", ":Dear"},
		{"C:Stuff", "C:Stuff"},
		{"std::Pair", "std::Pair"},
		{"i<3u", "i<3u"},
		{"ok:D", "ok[:D]"},
		{"ünïcode:)ß", "ünïcode:)ß"},
		{"héllo:) wörld", "héllo[:)] wörld"},
		// URLs are left alone, the words around them are not.
		{"https://example.com/a:)b", "https://example.com/a:)b"},
		{"see http://x.org/(y) :)", "see http://x.org/(y) [:)]"},
		{"www.example.com/:P", "www.example.com/:P"},
		{"MAILTO:bob:)", "MAILTO:bob:)"},
		{"http:)", "http[:)]"},
		// The longest code wins; unknown codes stay text.
		{":-(", "[:-(]"},
		{":'(", "[:'(]"},
		{"(Q) (y", "(Q) (y"},
		{"line\n:)\n", "line\n[:)]\n"},
	}
	for _, tt := range tests {
		got := parseEmoticons(tt.in)
		if s := pieceString(got); s != tt.want {
			t.Errorf("parseEmoticons(%q) = %q, want %q", tt.in, s, tt.want)
		}
	}
}

// FuzzParseEmoticons: the parser decodes anything a contact types. Its
// pieces must give back the text exactly, name only known codes, and lay
// out at any width without a piece running past the edge (except one that
// alone is wider than the line).
func FuzzParseEmoticons(f *testing.F) {
	for _, s := range []string{"hi :) (y)", "a:)b", "http://x/:)", ":-D:-D", "i<3u", "\xff:)\xfe", "  \n\t:'(  ",
		"see (https://x.org/a_(b)). ok", "mailto:a@b.c,www.x.org"} {
		f.Add(s, uint8(60))
	}
	f.Fuzz(func(t *testing.T, s string, width uint8) {
		pieces := parseEmoticons(s)
		var b strings.Builder
		for i, p := range pieces {
			b.WriteString(p.Text)
			if p.Emoticon {
				if _, ok := assets.EmoticonByCode(p.Text); !ok {
					t.Fatalf("piece %q is not a code", p.Text)
				}
				continue
			}
			if p.Text == "" || (i > 0 && !pieces[i-1].Emoticon) {
				t.Fatalf("empty or adjacent text pieces in %+v", pieces)
			}
		}
		if b.String() != s {
			t.Fatalf("pieces give %q, want %q", b.String(), s)
		}

		maxW := float32(width)
		measure := func(s string) float32 { return float32(utf8.RuneCountInString(s)) * 7 }
		items, lines := flowLayout(flowTokens(pieces), maxW, measure, 20)
		perLine := map[int]int{}
		for _, it := range items {
			perLine[it.line]++
		}
		for _, it := range items {
			if it.line < 0 || it.line >= lines || it.x < 0 {
				t.Fatalf("item %+v outside %d lines", it, lines)
			}
			if it.x+it.w > maxW && !(perLine[it.line] == 1 && it.x == 0) {
				t.Fatalf("item %+v runs past %v", it, maxW)
			}
			// Only web and mail addresses lead anywhere.
			if l := strings.ToLower(it.link); l != "" && !strings.HasPrefix(l, "https://") && !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "mailto:") {
				t.Fatalf("item %+v links to %q", it, it.link)
			}
		}
	})
}

func TestFlowLayout(t *testing.T) {
	measure := func(s string) float32 { return float32(utf8.RuneCountInString(s)) * 10 }
	type placed struct {
		text string
		line int
		x    float32
	}
	tests := []struct {
		in   string
		maxW float32
		want []placed
	}{
		{"hi :) you", 200, []placed{{"hi", 0, 0}, {":)", 0, 30}, {"you", 0, 60}}},
		// Wrapping drops the spaces at the break.
		{"hello world :)", 100, []placed{{"hello", 0, 0}, {"world", 1, 0}, {":)", 1, 60}}},
		{"one\ntwo", 200, []placed{{"one", 0, 0}, {"two", 1, 0}}},
		// A word wider than the line is cut between letters.
		{"abcdefghijklmnopqrstuvwxyz", 100, []placed{{"abcdefghij", 0, 0}, {"klmnopqrst", 1, 0}, {"uvwxyz", 2, 0}}},
		{":):):):):)", 50, []placed{{":)", 0, 0}, {":)", 0, 20}, {":)", 1, 0}, {":)", 1, 20}, {":)", 2, 0}}},
	}
	for _, tt := range tests {
		items, _ := flowLayout(flowTokens(parseEmoticons(tt.in)), tt.maxW, measure, 20)
		var got []placed
		for _, it := range items {
			got = append(got, placed{it.text, it.line, it.x})
		}
		if len(got) != len(tt.want) {
			t.Errorf("%q at %v: %+v, want %+v", tt.in, tt.maxW, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q at %v: %+v, want %+v", tt.in, tt.maxW, got, tt.want)
				break
			}
		}
	}
}

// TestMessageTextImages: a chat line shows its codes as pictures inside
// the line of text, and updates when the text changes.
func TestMessageTextImages(t *testing.T) {
	test.NewTempApp(t)
	m := newMessageText("hi :) (y)")
	w := test.NewWindow(m)
	defer w.Close()
	w.Resize(m.MinSize().AddWidthHeight(300, 0))

	images, texts := messageObjects(m)
	if len(images) != 2 || images[0].Resource != emoticonResources[":)"] || images[1].Resource != emoticonResources["(y)"] {
		t.Fatalf("images %v, want a smile and a thumbs up", images)
	}
	if len(texts) != 1 || strings.TrimSpace(texts[0].Text) != "hi" {
		t.Fatalf("texts %v, want hi", texts)
	}
	// The pictures sit in the text's line, after it.
	mid := texts[0].Position().Y + texts[0].Size().Height/2
	for _, img := range images {
		if c := img.Position().Y + img.Size().Height/2; c < mid-2 || c > mid+2 {
			t.Errorf("image centred at y=%v, text at %v", c, mid)
		}
		if img.Position().X <= texts[0].Position().X+texts[0].Size().Width-1 {
			t.Errorf("image at x=%v overlaps the text ending at %v", img.Position().X, texts[0].Position().X+texts[0].Size().Width)
		}
	}

	m.SetText("no codes here")
	if images, _ := messageObjects(m); len(images) != 0 {
		t.Errorf("%d images left after SetText", len(images))
	}
}

// messageObjects are the pictures and texts m draws.
func messageObjects(m *messageText) (images []*canvas.Image, texts []*canvas.Text) {
	for _, o := range test.WidgetRenderer(m).Objects() {
		switch o := o.(type) {
		case *canvas.Image:
			images = append(images, o)
		case *canvas.Text:
			texts = append(texts, o)
		}
	}
	return images, texts
}
