// Package cli is the keypost command line: one file per subcommand, each a
// function run…(ctx, args, stdout, stderr) error that tests call directly,
// and Main, which puts them under one root command for cmd/keypost. It is
// the one place that wires the packages together (relay, httpapi,
// keyfile…); nothing imports it but main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit statuses of keypost, as documented in the root command's help.
const (
	exitOK      = 0 // done
	exitFailure = 1 // the command was understood but failed (port taken, file exists)
	exitUsage   = 2 // the command was not understood (bad flag, invalid setting)
)

const rootLong = `keypost is a message relay where an Ed25519 public key is an address.

Exit status:
  0  success (for serve: stopped by SIGINT or SIGTERM and shut down cleanly)
  1  runtime failure (the address is in use, the key file exists, …)
  2  usage error (unknown command or flag, missing argument, invalid setting)
  3  send: some recipient did not get the message (rejected, expired,
     undeliverable, or no receipt in time)`

// Main runs keypost with args (without the program name) and returns the
// process's exit status. Errors are printed to stderr, prefixed with
// "keypost:".
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, err := execute(ctx, newRoot(), args, stdout, stderr)
	return report(cmd, err, stderr)
}

// newRoot returns the keypost command with all its subcommands.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "keypost",
		Short: "A message relay where an Ed25519 public key is an address",
		Long:  rootLong,
	}
	root.AddCommand(newServeCmd(serve), newKeygenCmd(), newIDCmd(), newVersionCmd())
	root.AddCommand(newBenchCmd())
	root.AddCommand(newSendCmd(), newListenCmd(), newChatCmd())
	return root
}

// report prints err, if any, and returns the exit status it stands for.
func report(cmd *cobra.Command, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "keypost: %v\n", err)
	if _, ok := errors.AsType[*usageError](err); ok {
		if cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	if _, ok := errors.AsType[*undeliveredError](err); ok {
		return exitUndelivered
	}
	return exitFailure
}

// usageError marks an error in how keypost was called, as opposed to a
// failure while doing what it was asked: Main exits 2 for it, not 1.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// execute runs cmd (the root or a single subcommand) with args and returns
// the command that ran and its error, as a usageError when the arguments
// were refused.
//
// Cobra's own errors (unknown command or flag, a flag's value refused by
// its pflag.Value, wrong number of arguments) are plain errors, so they are
// told apart by when they happen: cobra calls PersistentPreRun only once
// the command line was accepted, just before RunE. An error without that
// mark is a usage error; an error from RunE is a runtime failure unless
// RunE itself returned a usageError.
func execute(ctx context.Context, cmd *cobra.Command, args []string, stdout, stderr io.Writer) (*cobra.Command, error) {
	if args == nil {
		args = []string{} // with nil, cobra would read os.Args
	}
	accepted := false
	cmd.PersistentPreRun = func(*cobra.Command, []string) { accepted = true }
	moved, err := keyArgs(cmd, args)
	if err != nil {
		found, _, _ := cmd.Find(args)
		return found, &usageError{err}
	}
	cmd.SetArgs(moved)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors = true // report prints them once, the same way for every command
	cmd.SilenceUsage = true  // a runtime failure is not helped by the usage text
	ran, err := cmd.ExecuteContextC(ctx)
	if err != nil && !accepted {
		if _, ok := errors.AsType[*usageError](err); !ok {
			err = &usageError{err}
		}
	}
	return ran, err
}

// run executes a single subcommand, for the run… functions tests call.
func run(ctx context.Context, cmd *cobra.Command, args []string, stdout, stderr io.Writer) error {
	_, err := execute(ctx, cmd, args, stdout, stderr)
	return err
}
