package node

import (
	"context"
	"os"
	"path/filepath"

	"eserver/node/api"
	"eserver/node/files"
)

// File transfers are node/files; the API methods below find the session
// and hand the call to it.

// transfers is the file-transfer capability of the signed-in session.
func (n *Node) transfers() (*files.Files, error) {
	s, err := n.current()
	if err != nil {
		return nil, err
	}
	return s.files, nil
}

// SendFile implements API.
func (n *Node) SendFile(ctx context.Context, to, path string) (string, error) {
	s, err := n.sessionFor(to)
	if err != nil {
		return "", err
	}
	return s.files.Send(to, path)
}

// downloadDir is where accepted files go when the caller names no folder.
func (n *Node) downloadDir() string {
	if n.cfg.DownloadDir != "" {
		return n.cfg.DownloadDir
	}
	if home, err := os.UserHomeDir(); err == nil {
		if fi, err := os.Stat(filepath.Join(home, "Downloads")); err == nil && fi.IsDir() {
			return filepath.Join(home, "Downloads")
		}
	}
	return filepath.Join(n.cfg.ProfileDir, "received")
}

// AcceptFile implements API.
func (n *Node) AcceptFile(ctx context.Context, id, dir string) error {
	f, err := n.transfers()
	if err != nil {
		return err
	}
	if dir == "" {
		dir = n.downloadDir()
	}
	return f.Accept(id, dir)
}

// DeclineFile implements API.
func (n *Node) DeclineFile(ctx context.Context, id string) error {
	f, err := n.transfers()
	if err != nil {
		return err
	}
	return f.Decline(id)
}

// PauseTransfer implements API.
func (n *Node) PauseTransfer(ctx context.Context, id string) error {
	f, err := n.transfers()
	if err != nil {
		return err
	}
	return f.Pause(id)
}

// ResumeTransfer implements API.
func (n *Node) ResumeTransfer(ctx context.Context, id string) error {
	f, err := n.transfers()
	if err != nil {
		return err
	}
	return f.Resume(id)
}

// CancelTransfer implements API.
func (n *Node) CancelTransfer(ctx context.Context, id string) error {
	f, err := n.transfers()
	if err != nil {
		return err
	}
	return f.Cancel(id)
}

// Transfers implements API.
func (n *Node) Transfers(ctx context.Context) ([]api.Transfer, error) {
	f, err := n.transfers()
	if err != nil {
		return nil, err
	}
	return f.Transfers()
}
