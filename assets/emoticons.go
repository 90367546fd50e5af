package assets

import (
	"embed"
	"fmt"
)

// EmoticonSize is the width and height of every emoticon PNG. They are
// drawn at twice the size a chat shows them, to stay sharp on dense screens.
const EmoticonSize = 40

// Emoticon is one of MSN Messenger's emoticons.
type Emoticon struct {
	Name  string   // short name, also its file name: "smile"
	Title string   // what MSN's picker called it: "Smile"
	Codes []string // the text codes that show it; the picker inserts the first
	PNG   []byte
}

//go:embed emoticons/*.png
var emoticonFiles embed.FS

// Emoticons is MSN's set, in the order its picker showed them. Codes follow
// MSN, including the variants it accepted (":-)" for ":)", "(y)" for "(Y)").
var Emoticons = []Emoticon{
	{Name: "smile", Title: "Smile", Codes: []string{":)", ":-)"}},
	{Name: "grin", Title: "Open-mouthed", Codes: []string{":D", ":-D", ":d", ":-d"}},
	{Name: "wink", Title: "Wink", Codes: []string{";)", ";-)"}},
	{Name: "surprised", Title: "Surprised", Codes: []string{":O", ":-O", ":o", ":-o"}},
	{Name: "tongue", Title: "Tongue out", Codes: []string{":P", ":-P", ":p", ":-p"}},
	{Name: "hot", Title: "Hot", Codes: []string{"(H)", "(h)"}},
	{Name: "angry", Title: "Angry", Codes: []string{":@", ":-@"}},
	{Name: "embarrassed", Title: "Embarrassed", Codes: []string{":$", ":-$"}},
	{Name: "confused", Title: "Confused", Codes: []string{":S", ":-S", ":s", ":-s"}},
	{Name: "sad", Title: "Sad", Codes: []string{":(", ":-("}},
	{Name: "crying", Title: "Crying", Codes: []string{":'("}},
	{Name: "disappointed", Title: "Disappointed", Codes: []string{":|", ":-|"}},
	{Name: "devil", Title: "Devil", Codes: []string{"(6)"}},
	{Name: "angel", Title: "Angel", Codes: []string{"(A)", "(a)"}},
	{Name: "heart", Title: "Red heart", Codes: []string{"(L)", "(l)", "<3"}},
	{Name: "broken-heart", Title: "Broken heart", Codes: []string{"(U)", "(u)"}},
	{Name: "kiss", Title: "Red lips", Codes: []string{"(K)", "(k)"}},
	{Name: "rose", Title: "Red rose", Codes: []string{"(F)", "(f)"}},
	{Name: "thumbs-up", Title: "Thumbs up", Codes: []string{"(Y)", "(y)"}},
	{Name: "thumbs-down", Title: "Thumbs down", Codes: []string{"(N)", "(n)"}},
	{Name: "star", Title: "Star", Codes: []string{"(*)"}},
	{Name: "note", Title: "Note", Codes: []string{"(8)"}},
	{Name: "cake", Title: "Birthday cake", Codes: []string{"(^)"}},
	{Name: "coffee", Title: "Coffee cup", Codes: []string{"(C)", "(c)"}},
	{Name: "beer", Title: "Beer mug", Codes: []string{"(B)", "(b)"}},
}

var emoticonByCode = map[string]int{}

func init() {
	for i := range Emoticons {
		e := &Emoticons[i]
		png, err := emoticonFiles.ReadFile("emoticons/" + e.Name + ".png")
		if err != nil {
			// The generator and this table disagree: a build mistake,
			// caught by the package's tests.
			panic(fmt.Sprintf("assets: emoticon %s has no picture: %v", e.Name, err))
		}
		e.PNG = png
		for _, c := range e.Codes {
			emoticonByCode[c] = i
		}
	}
}

// EmoticonByCode returns the emoticon a text code shows, exactly as typed.
func EmoticonByCode(code string) (Emoticon, bool) {
	i, ok := emoticonByCode[code]
	if !ok {
		return Emoticon{}, false
	}
	return Emoticons[i], true
}
