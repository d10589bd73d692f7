package state

import (
	"encoding/json"
	"errors"
	"fmt"
)

// resultTypes says what a command's FSM result is, so a write forwarded
// to the leader returns the same Go value as a local one.
var resultTypes = map[CommandType]func() any{
	CmdCreateNetwork:  func() any { return new(Network) },
	CmdAttachEngine:   func() any { return new(Network) },
	CmdSetGateway:     func() any { return new(string) },
	CmdClaimBlock:     func() any { return new(string) },
	CmdReserveAddress: func() any { return new(string) },
	CmdCreateService:  func() any { return new(Service) },
	CmdUpdateService:  func() any { return new(Service) },

	CmdSetEndpointStatus: func() any { return new(int) },
	CmdCreateTasks:       func() any { return new(int) },
	CmdUpdateTasks:       func() any { return new(int) },
	CmdSetTaskStatus:     func() any { return new(int) },
	CmdDeleteTasks:       func() any { return new(int) },
	CmdDrainTasks:        func() any { return new(int) },
	CmdDrainContainer:    func() any { return new(int) },
	CmdRollbackService:   func() any { return new(Service) },
}

// DecodeResult turns a forwarded result back into the FSM's value.
func DecodeResult(t CommandType, raw json.RawMessage) (any, error) {
	mk, ok := resultTypes[t]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	v := mk()
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("state: decode result of command %d: %w", t, err)
	}
	switch p := v.(type) {
	case *string:
		return *p, nil
	case *int:
		return *p, nil
	}
	return v, nil
}

// ErrorClass names an error's class for the wire ("" for none).
func ErrorClass(err error) string {
	for _, c := range []error{ErrNotFound, ErrConflict, ErrInvalid} {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	return ""
}

// ClassError rebuilds an error received from another node: the same text,
// and errors.Is still finds its class.
func ClassError(class, msg string) error {
	for _, c := range []error{ErrNotFound, ErrConflict, ErrInvalid} {
		if c.Error() == class {
			return &remoteError{class: c, msg: msg}
		}
	}
	return errors.New(msg)
}

type remoteError struct {
	class error
	msg   string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.class }
