package node

import (
	"context"
	"fmt"
	"time"

	"eserver/node/api"
)

// Voice calls (node/call). Work in progress on this branch: the capability
// is being wired; until then every method says so.
var errCallsPending = fmt.Errorf("%w: voice calls are not wired yet", api.ErrBadRequest)

func (n *Node) Call(ctx context.Context, to string, audio api.CallAudio) (string, error) {
	return "", errCallsPending
}
func (n *Node) AnswerCall(ctx context.Context, id string, audio api.CallAudio) error {
	return errCallsPending
}
func (n *Node) DeclineCall(ctx context.Context, id string) error { return errCallsPending }
func (n *Node) HangUp(ctx context.Context, id string) error      { return errCallsPending }
func (n *Node) MuteCall(ctx context.Context, id string, muted bool) error {
	return errCallsPending
}
func (n *Node) SetCallVolume(ctx context.Context, id string, volume float64) error {
	return errCallsPending
}
func (n *Node) ActiveCalls(ctx context.Context) ([]api.CallEvent, error) { return nil, errCallsPending }
func (n *Node) AudioDevices(ctx context.Context) ([]api.AudioDevice, error) {
	return nil, errCallsPending
}
func (n *Node) MicrophoneLevel(ctx context.Context, input string, d time.Duration) (float64, error) {
	return 0, errCallsPending
}
