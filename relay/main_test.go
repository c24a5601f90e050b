package relay

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: streams, timers and handlers end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
