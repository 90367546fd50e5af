package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"eserver/node/api"
)

// History limits: the default when limit is absent, and the largest allowed.
const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 1000
)

type handler func(ctx context.Context, backend api.API, params json.RawMessage) (any, error)

var methods = map[string]handler{
	"register":          register,
	"login":             login,
	"logout":            logout,
	"account":           account,
	"addContact":        addContact,
	"acceptContact":     command("username", api.API.AcceptContact),
	"declineContact":    command("username", api.API.DeclineContact),
	"blockContact":      command("username", api.API.BlockContact),
	"unblockContact":    command("username", api.API.UnblockContact),
	"removeContact":     command("username", api.API.RemoveContact),
	"listContacts":      listContacts,
	"setPresence":       setPresence,
	"setSupernode":      setSupernode,
	"safetyNumber":      safetyNumber,
	"sendFile":          sendFile,
	"acceptFile":        acceptFile,
	"declineFile":       command("transferId", api.API.DeclineFile),
	"pauseTransfer":     command("transferId", api.API.PauseTransfer),
	"resumeTransfer":    command("transferId", api.API.ResumeTransfer),
	"cancelTransfer":    command("transferId", api.API.CancelTransfer),
	"listTransfers":     listTransfers,
	"listDevices":       listDevices,
	"revokeDevice":      revokeDevice,
	"changePassword":    changePassword,
	"verifyContact":     verifyContact,
	"send":              send,
	"history":           history,
	"markRead":          command("conversation", api.API.MarkRead),
	"setAvatar":         setAvatar,
	"typing":            command("to", api.API.Typing),
	"nudge":             command("to", api.API.Nudge),
	"setContactGroup":   setContactGroup,
	"renameContact":     renameContact,
	"invite":            invite,
	"leaveConversation": command("conversationId", api.API.LeaveConversation, "id"),
	"listConversations": listConversations,
	"searchHistory":     searchHistory,
	"createRoom":        createRoom,
	"joinRoom":          joinRoom,
	"leaveRoom":         command("room", api.API.LeaveRoom),
	"roomSend":          roomSend,
	"roomHistory":       roomHistory,
	"roomMessages":      roomMessages,
	"listRooms":         listRooms,
	"roomInfo":          roomInfo,
	"roomMembers":       roomMembers,
	"roomKick":          roomKick,
	"roomBan":           roomBan,
	"roomUnban":         roomUnban,
	"roomOp":            roomOp,
	"roomVoice":         roomVoice,
	"roomInvite":        roomInvite,
	"roomSetTopic":      roomSetTopic,
	"roomSetModes":      roomSetModes,
	"deleteRoom":        command("room", api.API.DeleteRoom),
	"roomDeleteMessage": roomDeleteMessage,
	"roomReport":        roomReport,
	"call":              startCall,
	"answerCall":        answerCall,
	"declineCall":       command("callId", api.API.DeclineCall),
	"hangUp":            command("callId", api.API.HangUp),
	"muteCall":          muteCall,
	"setCallVolume":     setCallVolume,
	"activeCalls":       activeCalls,
	"audioDevices":      audioDevices,
	"microphoneLevel":   microphoneLevel,
}

// paramError is a request whose params are malformed: -32602, bad_request.
type paramError struct{ msg string }

func (e *paramError) Error() string { return "invalid params: " + e.msg }

func badParams(format string, args ...any) error {
	return &paramError{msg: fmt.Sprintf(format, args...)}
}

// decodeParams decodes an object of params into v, refusing unknown fields.
// Absent or null params decode as {}.
func decodeParams(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	if raw[0] != '{' {
		return badParams("params must be an object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badParams("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badParams("trailing data after params")
	}
	return nil
}

// required fails on the first empty value of name/value pairs.
func required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return badParams("missing %s", pairs[i])
		}
	}
	return nil
}

// limitParam is a request's limit: def when absent, else 1…most.
func limitParam(limit *int, def, most int) (int, error) {
	if limit == nil {
		return def, nil
	}
	if *limit < 1 || *limit > most {
		return 0, badParams("limit must be between 1 and %d", most)
	}
	return *limit, nil
}

func checkStatus(s string) error {
	if !api.Status(s).Valid() {
		return badParams("unknown status %q", s)
	}
	return nil
}

type empty struct{}

type usernameResult struct {
	Username string `json:"username"`
}

func register(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Server   string `json:"server"`
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("server", p.Server, "username", p.Username, "password", p.Password); err != nil {
		return nil, err
	}
	if err := backend.Register(ctx, p.Server, p.Username, p.Password); err != nil {
		return nil, err
	}
	return usernameResult{Username: p.Username}, nil
}

func login(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Server   string `json:"server"`
		Username string `json:"username"`
		Password string `json:"password"`
		Status   string `json:"status"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("username", p.Username, "password", p.Password); err != nil {
		return nil, err
	}
	if p.Status != "" {
		if err := checkStatus(p.Status); err != nil {
			return nil, err
		}
	}
	acct, err := backend.Login(ctx, api.LoginRequest{
		Server: p.Server, Username: p.Username, Password: p.Password, Status: api.Status(p.Status),
	})
	if err != nil {
		return nil, err
	}
	return acct, nil
}

// account answers the signed-in account, as the account notification and
// the GUI show it.
func account(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	return backend.Account(ctx)
}

func logout(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	if err := backend.Logout(ctx); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func addContact(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Username string `json:"username"`
		Message  string `json:"message"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("username", p.Username); err != nil {
		return nil, err
	}
	if err := backend.AddContact(ctx, p.Username, p.Message); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// command is a method whose only param is the string field, required,
// answered with {} once call succeeds. The field may also be given under
// one of its old names (aliases, kept for one release), but once only.
func command(field string, call func(api.API, context.Context, string) error, aliases ...string) handler {
	return func(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
		var p map[string]json.RawMessage
		if err := decodeParams(raw, &p); err != nil {
			return nil, err
		}
		var v string
		for k, r := range p {
			if k != field && !slices.Contains(aliases, k) {
				return nil, badParams("unknown field %q", k)
			}
			if len(p) > 1 {
				return nil, badParams("%s given twice (%s is its old name)", field, strings.Join(aliases, ", "))
			}
			if err := json.Unmarshal(r, &v); err != nil {
				return nil, badParams("%s must be a string", k)
			}
		}
		if err := required(field, v); err != nil {
			return nil, err
		}
		if err := call(backend, ctx, v); err != nil {
			return nil, err
		}
		return empty{}, nil
	}
}

func listContacts(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	cs, err := backend.Contacts(ctx)
	if err != nil {
		return nil, err
	}
	return struct {
		Contacts []api.Contact `json:"contacts"`
	}{mapSlice(cs, contactOf)}, nil
}

// sendFile offers a file to a contact.
func sendFile(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		To   string `json:"to"`
		Path string `json:"path"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("to", p.To); err != nil {
		return nil, err
	}
	if err := required("path", p.Path); err != nil {
		return nil, err
	}
	id, err := backend.SendFile(ctx, p.To, p.Path)
	if err != nil {
		return nil, err
	}
	return struct {
		TransferID string `json:"transferId"`
	}{id}, nil
}

// acceptFile takes an offered file into dir (or the default folder).
func acceptFile(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		TransferID string `json:"transferId"`
		Dir        string `json:"dir"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("transferId", p.TransferID); err != nil {
		return nil, err
	}
	if err := backend.AcceptFile(ctx, p.TransferID, p.Dir); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// listTransfers answers the account's transfers.
func listTransfers(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	ts, err := backend.Transfers(ctx)
	if err != nil {
		return nil, err
	}
	return struct {
		Transfers []transfer `json:"transfers"`
	}{mapSlice(ts, transferOf)}, nil
}

// listDevices answers the account's devices.
func listDevices(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	ds, err := backend.Devices(ctx)
	if err != nil {
		return nil, err
	}
	return struct {
		Devices []api.Device `json:"devices"`
	}{mapSlice(ds, deviceOf)}, nil
}

// changePassword changes the account's password.
func changePassword(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Old string `json:"oldPassword"`
		New string `json:"newPassword"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("oldPassword", p.Old); err != nil {
		return nil, err
	}
	if err := required("newPassword", p.New); err != nil {
		return nil, err
	}
	if err := backend.ChangePassword(ctx, p.Old, p.New); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// revokeDevice removes a device; another than this one needs the
// account's password (the node refuses it without).
func revokeDevice(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		PeerID   string `json:"peerId"`
		Password string `json:"password"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("peerId", p.PeerID); err != nil {
		return nil, err
	}
	if err := backend.RevokeDevice(ctx, p.PeerID, p.Password); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// safetyNumber answers what to compare with a contact to verify the
// end-to-end encryption.
func safetyNumber(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Username string `json:"username"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("username", p.Username); err != nil {
		return nil, err
	}
	return backend.SafetyNumber(ctx, p.Username)
}

// verifyContact records that the safety number was compared (or takes it
// back); a code, when given, must match.
func verifyContact(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Username string `json:"username"`
		Verified *bool  `json:"verified"`
		Code     string `json:"code"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("username", p.Username); err != nil {
		return nil, err
	}
	if p.Verified == nil {
		return nil, badParams("missing verified")
	}
	if err := backend.VerifyContact(ctx, api.Verification{Username: p.Username, Verified: *p.Verified, Code: p.Code}); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// setSupernode records the opt-in to serving as a supernode and its
// upload cap.
func setSupernode(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p api.SupernodeSettings
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if p.Allowed == nil && p.UploadCap == nil {
		return nil, badParams("missing allowed or uploadCap")
	}
	if p.UploadCap != nil && *p.UploadCap < 0 {
		return nil, badParams("uploadCap must be 0 (no cap) or more bytes per second")
	}
	if err := backend.SetSupernode(ctx, p); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func setPresence(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		Status  *string `json:"status"`
		Nick    *string `json:"nick"`
		Subnick *string `json:"subnick"`
		Media   *string `json:"media"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	u := api.PresenceUpdate{Nick: p.Nick, Subnick: p.Subnick, Media: p.Media}
	if p.Status != nil {
		if err := checkStatus(*p.Status); err != nil {
			return nil, err
		}
		st := api.Status(*p.Status)
		u.Status = &st
	}
	if err := backend.SetPresence(ctx, u); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func send(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		To   string `json:"to"`
		Text string `json:"text"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("to", p.To, "text", p.Text); err != nil {
		return nil, err
	}
	id, err := backend.Send(ctx, p.To, p.Text)
	if err != nil {
		return nil, err
	}
	return struct {
		MessageID string `json:"messageId"`
		// Deprecated: the same as messageId; written for one release.
		OldID string `json:"id"`
	}{id, id}, nil
}

func history(ctx context.Context, backend api.API, raw json.RawMessage) (any, error) {
	var p struct {
		With   string `json:"with"`
		Limit  *int   `json:"limit"`
		Before string `json:"before"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return nil, err
	}
	if err := required("with", p.With); err != nil {
		return nil, err
	}
	limit, err := limitParam(p.Limit, defaultHistoryLimit, maxHistoryLimit)
	if err != nil {
		return nil, err
	}
	ms, err := backend.History(ctx, p.With, limit, p.Before)
	if err != nil {
		return nil, err
	}
	return struct {
		Messages []message `json:"messages"`
	}{mapSlice(ms, messageOf)}, nil
}

// mapSlice is f of every element of in: always a slice, never nil, so an
// empty list is written [] rather than null.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}
