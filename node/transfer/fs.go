package transfer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"eserver/node/text"
)

// FS is the few file-system operations the receiver uses, so tests can make
// any of them fail (ENOSPC, EACCES) at a chosen moment. OSFS is the real one.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Link is os.Link: it fails with an error wrapping fs.ErrExist when
	// newname exists, which is how a finished file never overwrites one.
	Link(oldname, newname string) error
	// Rename is os.Rename; used only when Link is unsupported.
	Rename(oldname, newname string) error
	Remove(name string) error
	// SyncDir fsyncs a directory so a rename or unlink in it survives a crash.
	SyncDir(dir string) error
}

// File is the part of *os.File the engine uses.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil File
	}
	return f, nil
}
func (OSFS) Link(oldname, newname string) error   { return os.Link(oldname, newname) }
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (OSFS) Remove(name string) error             { return os.Remove(name) }

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err // EINVAL: a file system that cannot sync directories
	}
	return nil
}

// classify wraps a file-system error with ErrDiskFull or ErrPermission when
// it is one, so the caller can tell the user what to do.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

// maxNameBytes keeps a name and the part file's decoration inside the
// common 255-byte limit.
const maxNameBytes = 200

// CleanName turns an offered file name, which the peer chose, into a safe
// base name: no directory parts, no control characters, no bidi or other
// format characters (text.Clean: "invoice\u202efdp.exe" would show as
// "invoiceexe.pdf"), no leading dots (which would hide the file or clash
// with part files), at most maxNameBytes. It never returns an empty name.
// The same name is what the user is shown and what goes on disk.
func CleanName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '/' || r == '\\' || r == utf8.RuneError || unicode.IsControl(r):
			b.WriteRune('_')
		case r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|':
			b.WriteRune('_') // reserved on Windows, where the same offer may land
		default:
			b.WriteRune(r)
		}
	}
	s := trimName(text.Clean(b.String()))
	for len(s) > maxNameBytes {
		ext := filepath.Ext(s)
		if len(ext) > 16 || len(ext) >= len(s) {
			ext = ""
		}
		stem := s[:len(s)-len(ext)]
		cut := maxNameBytes - len(ext)
		for cut > 0 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		s = stem[:cut] + ext
	}
	// The cut may have left a joiner without its partner, or a space or
	// dot at the end.
	s = trimName(text.Clean(s))
	if s == "" {
		return "file"
	}
	return s
}

// trimName drops spaces and dots at both ends: leading dots hide a file or
// clash with part files, and Windows drops trailing ones.
func trimName(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
}

// partName is where a transfer's data lives until it is complete. It
// carries part of the ID so two offers of "photo.jpg" (from two contacts, or
// the same one twice) never share a part file.
func partName(dir, name string, id ID) string {
	return filepath.Join(dir, "."+name+"."+id.String()[:8]+".eserver-part")
}

// candidate returns the n-th final name to try: "a.txt", "a (2).txt", ...
func candidate(name string, n int) string {
	if n == 1 {
		return name
	}
	ext := filepath.Ext(name)
	if ext == name {
		ext = ""
	}
	return fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), n, ext)
}
