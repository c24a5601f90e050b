package cli

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// keyArgs returns args with every key that begins with '-' and stands as a
// positional argument (chat KEY) moved after a "--", with the other
// positional arguments, in their order.
//
// A key is 43 characters of base64url, whose alphabet has '-': one key in
// 64 begins with it, and pflag would take such a key for a cluster of
// shorthand flags ("unknown shorthand flag: 'K' in -KkN3…"). A key given
// as a flag's value (--to KEY) needs nothing: pflag takes the next word
// as the value whatever it begins with. root is the command the arguments
// are for; when a subcommand is named in args, its flags are the ones read.
//
// A flag that takes a value but ends the line is an error then (pflag
// would take the "--" for its value and read the key as flags).
func keyArgs(root *cobra.Command, args []string) ([]string, error) {
	cmd, rest, err := root.Find(args)
	if err != nil {
		return args, nil
	}
	// The words naming the subcommand, as Find took them out of args.
	path := strings.Fields(cmd.CommandPath())[len(strings.Fields(root.CommandPath())):]
	flags := []*pflag.FlagSet{cmd.Flags(), cmd.InheritedFlags()}
	var opts, pos []string
	moved, missing := false, ""
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i+1:]...)
			i = len(rest)
		case isDashKey(a):
			pos = append(pos, a)
			moved = true
		case len(a) > 1 && a[0] == '-':
			opts = append(opts, a)
			if takesNextArg(flags, a) {
				if i+1 == len(rest) {
					missing = a
					break
				}
				i++
				opts = append(opts, rest[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	if !moved {
		return args, nil
	}
	if missing != "" {
		return nil, fmt.Errorf("flag needs an argument: %s", missing)
	}
	out := append(append(path, opts...), "--")
	return append(out, pos...), nil
}

// isDashKey reports whether a has the shape of a key (43 characters of
// base64url, 32 bytes) and begins with '-'. Whether it is a valid key is
// for the command to say, with its own message.
func isDashKey(a string) bool {
	if len(a) != 43 || a[0] != '-' {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(a)
	return err == nil && len(b) == 32
}

// takesNextArg reports whether the flag word a ("--name", "-n", "-abn")
// takes the next word as its value, as pflag would parse it.
func takesNextArg(flags []*pflag.FlagSet, a string) bool {
	lookup := func(get func(*pflag.FlagSet) *pflag.Flag) *pflag.Flag {
		for _, fs := range flags {
			if f := get(fs); f != nil {
				return f
			}
		}
		return nil
	}
	if name, ok := strings.CutPrefix(a, "--"); ok {
		if strings.Contains(name, "=") {
			return false
		}
		f := lookup(func(fs *pflag.FlagSet) *pflag.Flag { return fs.Lookup(name) })
		return f != nil && f.NoOptDefVal == ""
	}
	short := a[1:]
	for i := 0; i < len(short); i++ {
		f := lookup(func(fs *pflag.FlagSet) *pflag.Flag { return fs.ShorthandLookup(short[i : i+1]) })
		if f == nil || f.NoOptDefVal != "" {
			continue // a boolean, or unknown: pflag reports that itself
		}
		// The rest of the word, if any, is this flag's value.
		return i == len(short)-1
	}
	return false
}
