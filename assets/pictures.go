package assets

import (
	"embed"
	"fmt"
)

// Picture is one of the ready-made display pictures the picker offers, as
// MSN's gallery did: a full 96×96 PNG (the node's api.AvatarSize), so it
// needs no cropping.
type Picture struct {
	Name  string // short name, also its file name: "duck"
	Title string // what the picker shows on it: "Rubber duck"
	PNG   []byte
}

//go:embed pictures/*.png
var pictureFiles embed.FS

// Pictures is the gallery, in the order the picker shows it. The default
// display picture (Avatar) is not among them: it is what having no picture
// looks like, chosen with the picker's "Default picture" button, whereas
// choosing one of these sets it as our picture like any file.
var Pictures = []Picture{
	{Name: "duck", Title: "Rubber duck"},
	{Name: "dog", Title: "Puppy"},
	{Name: "cat", Title: "Cat"},
	{Name: "flower", Title: "Flower"},
	{Name: "football", Title: "Football"},
	{Name: "guitar", Title: "Guitar"},
	{Name: "chess", Title: "Chess"},
	{Name: "sunset", Title: "Sunset"},
}

func init() {
	for i := range Pictures {
		p := &Pictures[i]
		png, err := pictureFiles.ReadFile("pictures/" + p.Name + ".png")
		if err != nil {
			// The generator and this table disagree: a build mistake,
			// caught by the package's tests.
			panic(fmt.Sprintf("assets: display picture %s has no file: %v", p.Name, err))
		}
		p.PNG = png
	}
}
