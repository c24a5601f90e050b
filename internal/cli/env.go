package cli

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// envPrefix starts the name of every environment variable keypost reads.
const envPrefix = "KEYPOST_"

// envName is the environment variable of a flag: KEYPOST_ and the flag's
// name in upper case with dashes as underscores (--max-held-total →
// KEYPOST_MAX_HELD_TOTAL).
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets each flag of fs named in names (every flag but help when
// names is empty) that was not given on the command line from its
// environment variable, if that is set and not empty. So the precedence is
// flag, then environment, then default. The value goes through the flag's
// own Set, so it is checked exactly as on the command line; a refused value
// is a usage error naming both the variable and the flag.
//
// An empty variable counts as unset, so that `KEYPOST_X= keypost serve`
// means the default rather than an error.
func applyEnv(fs *pflag.FlagSet, names ...string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		if len(names) > 0 && !contains(names, f.Name) {
			return
		}
		name := envName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return
		}
		if serr := f.Value.Set(v); serr != nil {
			err = usagef("invalid value %q for %s (--%s): %v", v, name, f.Name, serr)
		}
	})
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
