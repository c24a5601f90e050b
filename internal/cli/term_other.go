//go:build !linux

package cli

import "os"

// isTerminal reports false: progress lines are drawn only on Linux.
func isTerminal(*os.File) bool { return false }
