package app

import (
	"os"

	"github.com/rymdport/portal/openuri"
)

// portalOpen asks the freedesktop portal to open path, or with folder to
// show the folder holding it (with the file selected, where the file
// manager can). The portal takes an open file, not a name, so it works
// from a sandbox too.
func portalOpen(path string, folder bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if folder {
		return openuri.OpenDirectory("", f.Fd(), nil)
	}
	return openuri.OpenFile("", f.Fd(), nil)
}
