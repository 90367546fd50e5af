package app

import (
	"math"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// messageText shows a message's text with its emoticons as pictures in the
// line, wrapping at spaces (and around emoticons) like a word-wrapped label.
// Fyne's RichText treats images as blocks on their own line, hence this.
// Web and mail addresses show as links; a click hands them to onLink.
type messageText struct {
	widget.BaseWidget
	Text   string // as typed, codes and all
	pieces []textPiece
	onLink func(*url.URL) // nil: links show but do nothing
	hover  bool           // the pointer is over a link
	r      *messageTextRenderer
	// oneLine shows the text on one line, line breaks as spaces, cut with
	// "…" where it is wider than the widget (a row of the history viewer).
	oneLine bool
	// onTap is told of a tap beside the links: the widget takes every tap
	// under it, so a list row it sits in would not see them otherwise.
	onTap func()
}

func newMessageText(text string) *messageText {
	t := &messageText{Text: text, pieces: parseEmoticons(text)}
	t.ExtendBaseWidget(t)
	return t
}

// SetText changes the text.
func (t *messageText) SetText(text string) {
	t.SetMarked(text, nil)
}

// SetMarked changes the text, showing the byte ranges marks of it in bold
// (the words a search matched). Marks that are out of order, out of range
// or not on UTF-8 boundaries are ignored: the text always shows.
func (t *messageText) SetMarked(text string, marks [][2]int) {
	t.Text, t.pieces = text, markPieces(parseEmoticons(text), text, marks)
	t.Refresh()
}

// markPieces splits the text pieces of text at the valid marks, those
// inside a mark bold. An emoticon stays a picture, marked or not.
func markPieces(pieces []textPiece, text string, marks [][2]int) []textPiece {
	var valid [][2]int
	at := 0
	for _, m := range marks {
		if m[0] < at || m[1] <= m[0] || m[1] > len(text) || !boundary(text, m[0]) || !boundary(text, m[1]) {
			continue
		}
		valid = append(valid, m)
		at = m[1]
	}
	if len(valid) == 0 {
		return pieces
	}
	var out []textPiece
	start := 0 // byte offset of the piece in text
	for _, p := range pieces {
		end := start + len(p.Text)
		if p.Emoticon {
			out = append(out, p)
			start = end
			continue
		}
		cut := start
		for _, m := range valid {
			lo, hi := max(m[0], start), min(m[1], end)
			if lo >= hi {
				continue
			}
			if lo > cut {
				out = append(out, textPiece{Text: text[cut:lo]})
			}
			out = append(out, textPiece{Text: text[lo:hi], Bold: true})
			cut = hi
		}
		if cut < end {
			out = append(out, textPiece{Text: text[cut:end]})
		}
		start = end
	}
	return out
}

// Resize lays the text out again: its height depends on its width. The
// refresh lets the window notice the new height and lay out the rows.
func (t *messageText) Resize(size fyne.Size) {
	old := t.Size()
	if size == old {
		return
	}
	t.BaseWidget.Resize(size)
	if size.Width != old.Width {
		t.Refresh()
	}
}

func (t *messageText) CreateRenderer() fyne.WidgetRenderer {
	r := &messageTextRenderer{t: t}
	t.r = r
	r.Refresh()
	return r
}

// flowToken is a unit of layout: a word, a run of spaces, a line break or
// an emoticon.
type flowToken struct {
	kind flowKind
	text string // the word, spaces or emoticon code
	link string // for a word that is a web or mail address: where it leads
	bold bool
}

type flowKind int

const (
	flowWord flowKind = iota
	flowSpace
	flowBreak
	flowEmoticon
)

// flowTokens splits pieces into words, spaces, breaks and emoticons.
func flowTokens(pieces []textPiece) []flowToken {
	var out []flowToken
	for _, p := range pieces {
		if p.Emoticon {
			out = append(out, flowToken{kind: flowEmoticon, text: p.Text})
			continue
		}
		s := p.Text
		for s != "" {
			r, n := utf8.DecodeRuneInString(s)
			switch {
			case r == '\n':
				out = append(out, flowToken{kind: flowBreak})
				s = s[n:]
			case r == '\r':
				s = s[n:]
			case unicode.IsSpace(r):
				end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsSpace(r) || r == '\n' || r == '\r' })
				if end < 0 {
					end = len(s)
				}
				// Tabs and other spaces show as plain spaces.
				out = append(out, flowToken{kind: flowSpace, text: strings.Repeat(" ", utf8.RuneCountInString(s[:end])), bold: p.Bold})
				s = s[end:]
			default:
				end := strings.IndexFunc(s, unicode.IsSpace)
				if end < 0 {
					end = len(s)
				}
				pre, link, target, post := splitLink(s[:end])
				for _, w := range []flowToken{{flowWord, pre, "", p.Bold}, {flowWord, link, target, p.Bold}, {flowWord, post, "", p.Bold}} {
					if w.text != "" {
						out = append(out, w)
					}
				}
				s = s[end:]
			}
		}
	}
	return out
}

// flowItem is one placed piece: a run of text or an emoticon, on a line.
type flowItem struct {
	text     string
	emoticon bool
	link     string // the address a link's run leads to
	bold     bool
	x, w     float32
	line     int
}

// flowLayout places tokens in lines at most maxW wide. Text between breaks
// joins into runs (one canvas.Text each); a word wider than a line is cut
// between letters, so long URLs wrap too. It returns the items and the
// number of lines.
func flowLayout(tokens []flowToken, maxW float32, measure func(string) float32, emoW float32) ([]flowItem, int) {
	return flowLayoutStyled(tokens, maxW, func(s string, _ bool) float32 { return measure(s) }, emoW)
}

// flowLayoutStyled is flowLayout with bold runs measured as bold: a run
// joins only text of its own style.
func flowLayoutStyled(tokens []flowToken, maxW float32, measureStyled func(string, bool) float32, emoW float32) ([]flowItem, int) {
	var items []flowItem
	line, x := 0, float32(0)
	pending := ""    // spaces not yet placed
	lastRun := -1    // index in items of the text run that ends the line, or -1
	wrapped := false // the line started by wrapping: leading spaces go
	bold := false    // the style of the token being placed
	measure := func(s string) float32 { return measureStyled(s, bold) }
	newLine := func(soft bool) {
		line, x, pending, lastRun, wrapped = line+1, 0, "", -1, soft
	}
	place := func(text string, w float32, emoticon bool, link string) {
		sw := float32(0)
		if pending != "" {
			sw = measure(pending)
		}
		if x+sw+w > maxW {
			if x > 0 {
				newLine(true)
			}
			// Leading spaces that leave no room for the word go.
			pending, sw = "", 0
		}
		if !emoticon && lastRun >= 0 && items[lastRun].link == link && items[lastRun].bold == bold {
			// Continue the run so the line's text is drawn in one piece.
			it := &items[lastRun]
			it.text += pending + text
			it.w = measure(it.text)
			x = it.x + it.w
		} else {
			items = append(items, flowItem{text: text, emoticon: emoticon, link: link, bold: bold && !emoticon, x: x + sw, w: w, line: line})
			x += sw + w
			lastRun = -1
			if !emoticon {
				lastRun = len(items) - 1
			}
		}
		pending, wrapped = "", false
	}
	for _, tok := range tokens {
		if tok.kind == flowWord {
			bold = tok.bold
		}
		switch tok.kind {
		case flowBreak:
			newLine(false)
		case flowSpace:
			if !wrapped || x > 0 {
				pending += tok.text
			}
		case flowEmoticon:
			place(tok.text, emoW, true, "")
		case flowWord:
			w := measure(tok.text)
			if w <= maxW || maxW <= 0 {
				place(tok.text, w, false, tok.link)
				continue
			}
			// Too wide for any line: cut it into pieces that fit.
			rest := tok.text
			for rest != "" {
				if x > 0 {
					newLine(true)
				}
				cut := fitPrefix(rest, maxW, measure)
				place(rest[:cut], measure(rest[:cut]), false, tok.link)
				rest = rest[cut:]
			}
		}
	}
	return items, line + 1
}

// fitPrefix is the length of the longest prefix of s, at least one rune,
// no wider than maxW. Lines are short, so measuring rune by rune is cheap.
func fitPrefix(s string, maxW float32, measure func(string) float32) int {
	_, end := utf8.DecodeRuneInString(s)
	for end < len(s) {
		_, n := utf8.DecodeRuneInString(s[end:])
		if measure(s[:end+n]) > maxW {
			break
		}
		end += n
	}
	return end
}

type messageTextRenderer struct {
	t      *messageText
	tokens []flowToken
	// The last layout and the width it was made for: MinSize is asked
	// often, and measuring every word each time is wasted work.
	laidW     float32
	laidItems []flowItem
	laidLines int
	laidOK    bool

	texts   []*canvas.Text  // pooled, the first len(items that are text) in use
	images  []*canvas.Image // pooled likewise
	objects []fyne.CanvasObject
}

// metrics are the sizes the layout uses, from the widget's theme.
func (r *messageTextRenderer) metrics() (textSize, lineH, emoW, pad float32) {
	v := func(n fyne.ThemeSizeName) float32 { return theme.SizeForWidget(n, r.t) }
	textSize = v(theme.SizeNameText)
	emoW = float32(math.Round(float64(textSize) * 1.45))                              // MSN's 19 px beside 13 px text
	lineH = fyne.Max(fyne.MeasureText("Mg", textSize, fyne.TextStyle{}).Height, emoW) // not translated: measures a line
	return textSize, lineH, emoW, v(theme.SizeNameInnerPadding)
}

func (r *messageTextRenderer) measure(textSize float32) func(string, bool) float32 {
	return func(s string, bold bool) float32 {
		return fyne.MeasureText(s, textSize, fyne.TextStyle{Bold: bold}).Width
	}
}

// lay places the text for width w, returning the items and lines.
func (r *messageTextRenderer) lay(w float32) ([]flowItem, int) {
	if r.laidOK && r.laidW == w {
		return r.laidItems, r.laidLines
	}
	textSize, _, emoW, pad := r.metrics()
	avail := w - 2*pad
	if w <= 0 {
		avail = float32(math.Inf(1)) // not sized yet: one line per paragraph
	}
	if r.t.oneLine {
		items, _ := flowLayoutStyled(r.tokens, float32(math.Inf(1)), r.measure(textSize), emoW)
		r.laidItems, r.laidLines = ellipsize(items, avail, r.measure(textSize)), 1
	} else {
		r.laidItems, r.laidLines = flowLayoutStyled(r.tokens, avail, r.measure(textSize), emoW)
	}
	r.laidW, r.laidOK = w, true
	return r.laidItems, r.laidLines
}

// ellipsis ends a line cut short.
const ellipsis = "…"

// ellipsize cuts items laid on one line at maxW, ending them with an
// ellipsis where anything was cut.
func ellipsize(items []flowItem, maxW float32, measure func(string, bool) float32) []flowItem {
	if len(items) == 0 || items[len(items)-1].x+items[len(items)-1].w <= maxW {
		return items
	}
	ell := measure(ellipsis, false)
	limit := maxW - ell
	var out []flowItem
	end := float32(0)
	for _, it := range items {
		if it.x+it.w <= limit {
			out = append(out, it)
			end = it.x + it.w
			continue
		}
		if !it.emoticon && it.x < limit {
			// As much of the run as fits, rune by rune.
			cut := 0
			for cut < len(it.text) {
				_, n := utf8.DecodeRuneInString(it.text[cut:])
				if it.x+measure(it.text[:cut+n], it.bold) > limit {
					break
				}
				cut += n
			}
			if cut > 0 {
				it.text = it.text[:cut]
				it.w = measure(it.text, it.bold)
				out = append(out, it)
				end = it.x + it.w
			}
		}
		break
	}
	return append(out, flowItem{text: ellipsis, x: end, w: ell})
}

func (r *messageTextRenderer) MinSize() fyne.Size {
	_, lineH, emoW, pad := r.metrics()
	if r.t.oneLine {
		// One line, as narrow as an emoticon: wider only shows more.
		return fyne.NewSize(emoW+2*pad, lineH+pad)
	}
	_, lines := r.lay(r.t.Size().Width)
	// Wide enough for an emoticon; any width more just wraps less.
	return fyne.NewSize(emoW+2*pad, float32(lines)*lineH+pad)
}

func (r *messageTextRenderer) Layout(size fyne.Size) {
	textSize, lineH, emoW, pad := r.metrics()
	items, _ := r.lay(size.Width)
	fg := theme.ColorForWidget(theme.ColorNameForeground, r.t)
	link := theme.ColorForWidget(theme.ColorNameHyperlink, r.t)
	textH := fyne.MeasureText("Mg", textSize, fyne.TextStyle{}).Height // not translated: measures a line
	nt, ni := 0, 0
	r.objects = r.objects[:0]
	for _, it := range items {
		y := pad/2 + float32(it.line)*lineH
		if it.emoticon {
			if ni == len(r.images) {
				img := &canvas.Image{FillMode: canvas.ImageFillContain}
				r.images = append(r.images, img)
			}
			img := r.images[ni]
			ni++
			if img.Resource != emoticonResources[it.text] {
				img.Resource = emoticonResources[it.text]
				img.Refresh()
			}
			img.Move(fyne.NewPos(pad+it.x, y+(lineH-emoW)/2))
			img.Resize(fyne.NewSquareSize(emoW))
			r.objects = append(r.objects, img)
			continue
		}
		if nt == len(r.texts) {
			r.texts = append(r.texts, &canvas.Text{})
		}
		txt := r.texts[nt]
		nt++
		txt.Text, txt.TextSize, txt.Color, txt.TextStyle = it.text, textSize, fg, fyne.TextStyle{Bold: it.bold}
		if it.link != "" {
			txt.Color, txt.TextStyle = link, fyne.TextStyle{Underline: true, Bold: it.bold}
		}
		txt.Move(fyne.NewPos(pad+it.x, y+(lineH-textH)/2))
		txt.Resize(fyne.NewSize(it.w, textH))
		txt.Refresh()
		r.objects = append(r.objects, txt)
	}
}

// Refresh takes new text or a new theme (sizes, colours): lay out afresh.
func (r *messageTextRenderer) Refresh() {
	r.tokens = flowTokens(r.t.pieces)
	if r.t.oneLine {
		for i, tok := range r.tokens {
			if tok.kind == flowBreak {
				r.tokens[i] = flowToken{kind: flowSpace, text: " "}
			}
		}
	}
	r.laidOK = false
	r.Layout(r.t.Size())
	canvas.Refresh(r.t)
}

func (r *messageTextRenderer) Objects() []fyne.CanvasObject { return r.objects }
func (r *messageTextRenderer) Destroy()                     {}

// Links in messages. Only web and mail addresses become links: a contact's
// message must not be able to make a click run a program or open a local
// file, so file:, javascript: and the like stay text.

// splitLink finds a web or mail address in word: the text before it (an
// opening bracket or quote), the address as written, where it leads, and
// the text after it (punctuation that ends the sentence, a closing
// bracket). A word without one comes back whole in pre.
func splitLink(word string) (pre, link, target, post string) {
	start := strings.IndexFunc(word, func(r rune) bool { return !strings.ContainsRune(`([<"'`, r) })
	if start < 0 {
		return word, "", "", ""
	}
	body := word[start:]
	lower := strings.ToLower(body)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") &&
		!strings.HasPrefix(lower, "www.") && !strings.HasPrefix(lower, "mailto:") {
		return word, "", "", ""
	}
	end := len(body)
	for end > 0 {
		r, n := utf8.DecodeLastRuneInString(body[:end])
		closing := strings.ContainsRune(`)]>`, r)
		// A closing bracket that closes one inside the address stays in it:
		// https://en.wikipedia.org/wiki/Go_(language).
		if !strings.ContainsRune(`.,;:!?"'`, r) && !(closing && strings.Count(body[:end], string(opening(r))) < strings.Count(body[:end], string(r))) {
			break
		}
		end -= n
	}
	link = body[:end]
	t := link
	if strings.HasPrefix(strings.ToLower(t), "www.") {
		t = "https://" + t
	}
	u, err := url.Parse(t)
	if err != nil || (u.Scheme != "mailto" && u.Host == "") || (u.Scheme == "mailto" && u.Opaque == "") {
		return word, "", "", ""
	}
	return word[:start], link, u.String(), body[end:]
}

// opening is the bracket closing r closes.
func opening(r rune) rune {
	switch r {
	case ')':
		return '('
	case ']':
		return '['
	default:
		return '<'
	}
}

// linkAt is where the link under pos leads, or "".
func (t *messageText) linkAt(pos fyne.Position) string {
	r := t.r
	if r == nil {
		return "" // never drawn
	}
	_, lineH, _, pad := r.metrics()
	items, _ := r.lay(t.Size().Width)
	for _, it := range items {
		x, y := pad+it.x, pad/2+float32(it.line)*lineH
		if it.link != "" && pos.X >= x && pos.X < x+it.w && pos.Y >= y && pos.Y < y+lineH {
			return it.link
		}
	}
	return ""
}

// Tapped opens the link under the pointer.
func (t *messageText) Tapped(ev *fyne.PointEvent) {
	target := t.linkAt(ev.Position)
	if target == "" || t.onLink == nil {
		if t.onTap != nil {
			t.onTap()
		}
		return
	}
	if u, err := url.Parse(target); err == nil {
		t.onLink(u)
	}
}

// Cursor is the hand over a link, as in a browser.
func (t *messageText) Cursor() desktop.Cursor {
	if t.hover {
		return desktop.PointerCursor
	}
	return desktop.DefaultCursor
}

func (t *messageText) MouseIn(ev *desktop.MouseEvent)    { t.hover = t.linkAt(ev.Position) != "" }
func (t *messageText) MouseMoved(ev *desktop.MouseEvent) { t.hover = t.linkAt(ev.Position) != "" }
func (t *messageText) MouseOut()                         { t.hover = false }
