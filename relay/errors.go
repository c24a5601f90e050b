package relay

import (
	"fmt"

	"github.com/keypost/keypost/protocol"
)

// Error is a refusal with a stable wire code. Status, when set, overrides
// the code's usual HTTP status.
type Error struct {
	Code       protocol.ErrorCode
	Status     int
	Detail     string
	RetryAfter int // seconds, for 429/503; 0 = none
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Detail }

func errorf(code protocol.ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}
