package client

import "time"

// Phase is where the client is in its life.
type Phase int

const (
	// Connecting: the first stream is being opened and registered.
	Connecting Phase = iota
	// Ready: the session is registered; messages flow both ways.
	Ready
	// Reconnecting: the stream ended (State.Err says why) and a new one
	// is opened after State.Retry.
	Reconnecting
	// Closed: the client stopped for good (State.Err says why: ErrClosed
	// after Close, a *CloseError after a final closing).
	Closed
)

func (p Phase) String() string {
	switch p {
	case Connecting:
		return "connecting"
	case Ready:
		return "ready"
	case Reconnecting:
		return "reconnecting"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// State is a state change, as given to Options.OnState and returned by
// Client.State.
type State struct {
	Phase   Phase
	Session string        // Ready: the session id
	Err     error         // Reconnecting: why the stream ended; Closed: why the client stopped
	Retry   time.Duration // Reconnecting: the wait before the next attempt
}

func (s State) String() string {
	switch {
	case s.Phase == Reconnecting:
		return "reconnecting in " + s.Retry.String() + " (" + errText(s.Err) + ")"
	case s.Err != nil:
		return s.Phase.String() + " (" + s.Err.Error() + ")"
	}
	return s.Phase.String()
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
