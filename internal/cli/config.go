package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	yaml "go.yaml.in/yaml/v3"
)

// Where a setting's value came from, in order of precedence: a flag on the
// command line beats its KEYPOST_* environment variable, which beats the
// config file, which beats the default.
const (
	sourceFlag    = "flag"
	sourceEnv     = "env"
	sourceFile    = "file"
	sourceDefault = "default"
)

// configEnv names the config file when --config is not given.
const configEnv = envPrefix + "CONFIG"

// fileSetting is one setting read from the config file.
type fileSetting struct {
	value string
	line  int
}

// readConfigFile reads a YAML config file: one mapping whose keys are the
// names of serve's flags (without the dashes in front) and whose values are
// written as on the command line (a list is also accepted where the flag
// takes a comma-separated one). An empty value (`key:` alone) counts as
// unset, as an empty environment variable does. An unknown key is refused,
// since a misspelt setting that was silently ignored would surprise.
func readConfigFile(path string, known func(string) bool) (map[string]fileSetting, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, usagef("config file %s: %v", path, err)
	}
	out := map[string]fileSetting{}
	if doc.Kind == 0 { // an empty file
		return out, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, usagef("config file %s:%d: want a mapping of setting names to values, like `retention: 90s`", path, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		where := fmt.Sprintf("config file %s:%d", path, k.Line)
		if k.Kind != yaml.ScalarNode || !known(k.Value) {
			return nil, usagef("%s: unknown setting %q (the settings are the flags of keypost serve, without --)", where, k.Value)
		}
		if _, dup := out[k.Value]; dup {
			return nil, usagef("%s: %q is set twice", where, k.Value)
		}
		var text string
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			text = ""
		case v.Kind == yaml.ScalarNode:
			text = v.Value
		case v.Kind == yaml.SequenceNode:
			items := make([]string, len(v.Content))
			for j, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, usagef("%s: %s: a list of plain values is expected", where, k.Value)
				}
				items[j] = it.Value
			}
			text = strings.Join(items, ",")
		default:
			return nil, usagef("%s: %s: want a value written as on the command line", where, k.Value)
		}
		out[k.Value] = fileSetting{value: text, line: k.Line}
	}
	return out, nil
}

// applySources sets each flag of fs that was not given on the command line
// from its environment variable if that is set and not empty, else from
// the config file (file, read from path) if it has the setting. Flags named
// in skip are left alone. Values go through each flag's own Set, so they
// are checked exactly as on the command line, and a refused value is a
// usage error naming the setting and where it came from. It returns the
// source of every flag.
func applySources(fs *pflag.FlagSet, path string, file map[string]fileSetting, skip ...string) (map[string]string, error) {
	sources := map[string]string{}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Name == "help" || contains(skip, f.Name) {
			return
		}
		if f.Changed {
			sources[f.Name] = sourceFlag
			return
		}
		sources[f.Name] = sourceDefault
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok && v != "" {
			if serr := f.Value.Set(v); serr != nil {
				err = usagef("invalid value %q for %s (--%s): %v", v, name, f.Name, serr)
			}
			sources[f.Name] = sourceEnv
			return
		}
		if fv, ok := file[f.Name]; ok && fv.value != "" {
			if serr := f.Value.Set(fv.value); serr != nil {
				err = usagef("invalid value %q for %s in config file %s:%d (--%s): %v",
					fv.value, f.Name, path, fv.line, f.Name, serr)
			}
			sources[f.Name] = sourceFile
		}
	})
	return sources, err
}

// printConfig writes the effective configuration as a config file: every
// setting with its value and, as a comment, where the value came from.
func printConfig(w io.Writer, fs *pflag.FlagSet, sources map[string]string) error {
	m := &yaml.Node{Kind: yaml.MappingNode}
	fs.VisitAll(func(f *pflag.Flag) {
		src, ok := sources[f.Name]
		if !ok {
			return
		}
		if src == sourceEnv {
			src += " " + envName(f.Name)
		}
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: f.Name},
			&yaml.Node{Kind: yaml.ScalarNode, Value: f.Value.String(), LineComment: src})
	})
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m},
		HeadComment: "The effective configuration of keypost serve; usable as a --config file.\n" +
			"Precedence: flag > KEYPOST_* environment variable > config file > default;\n" +
			"each comment says where the value came from."}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}
