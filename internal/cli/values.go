package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The pflag.Value types of keypost's settings. They refuse values that
// would make no sense (a zero or negative limit) in Set, so a value is
// checked the same way whether it comes from a flag or an environment
// variable, and the error names the setting. Type is the placeholder --help
// shows after the flag's name.

// durationValue is a positive time.Duration. Zero is refused rather than
// passed on, because in relay.Config zero means "the default", and a
// --retention 0 that silently meant 60 s would surprise.
type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration (like 500ms, 90s or 1h30m)")
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	*v = durationValue(d)
	return nil
}

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Type() string   { return "duration" }

// delayValue is a time.Duration that may be zero (no delay) but not
// negative.
type delayValue time.Duration

func (v *delayValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration (like 0s, 500ms, 90s or 1h30m)")
	}
	if d < 0 {
		return errors.New("must not be negative")
	}
	*v = delayValue(d)
	return nil
}

func (v *delayValue) String() string { return time.Duration(*v).String() }
func (v *delayValue) Type() string   { return "duration" }

// pathValue is a file name; empty means none.
type pathValue string

func (v *pathValue) Set(s string) error {
	*v = pathValue(strings.TrimSpace(s))
	return nil
}

func (v *pathValue) String() string { return string(*v) }
func (v *pathValue) Type() string   { return "file" }

// boolValue is on or off: true, false, 1, 0 (strconv.ParseBool's words).
// Given alone on the command line (--h2c) it means true.
type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want true or false")
	}
	*v = boolValue(b)
	return nil
}

func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) Type() string     { return "bool" }
func (v *boolValue) IsBoolFlag() bool { return true }

// intValue is a positive int, for the same reason as durationValue.
type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	if n <= 0 {
		return errors.New("must be positive")
	}
	*v = intValue(n)
	return nil
}

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Type() string   { return "int" }

// choiceValue is one of a fixed list of words.
type choiceValue struct {
	p       *string
	choices []string
	typ     string
}

func (v choiceValue) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if !contains(v.choices, s) {
		return fmt.Errorf("want one of %s", strings.Join(v.choices, ", "))
	}
	*v.p = s
	return nil
}

func (v choiceValue) String() string { return *v.p }
func (v choiceValue) Type() string   { return v.typ }

// addrValue is a listen address, host:port; the host may be empty (every
// interface) and the port 0 (any free port).
type addrValue string

func (v *addrValue) Set(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return errors.New("want host:port with a port from 0 to 65535, like 127.0.0.1:8080 or :8080")
	}
	*v = addrValue(s)
	return nil
}

func (v *addrValue) String() string { return string(*v) }
func (v *addrValue) Type() string   { return "host:port" }

// originsValue is the CORS allow-list: a comma-separated list of origins
// (scheme://host[:port], as browsers send them in the Origin header) or "*"
// for any. A common mistake, a bare host name or a trailing slash, would
// never match a browser's Origin, so it is refused here rather than found
// out from a browser console.
type originsValue []string

func (v *originsValue) Set(s string) error {
	var list []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
				return fmt.Errorf("%q is not an origin (want * or scheme://host[:port], like https://example.com)", o)
			}
		}
		list = append(list, o)
	}
	if len(list) == 0 {
		return errors.New("empty list (use * to allow any origin)")
	}
	*v = list
	return nil
}

func (v *originsValue) String() string { return strings.Join(*v, ",") }
func (v *originsValue) Type() string   { return "origins" }

// prefixesValue is a comma-separated list of IP addresses and CIDR
// prefixes (127.0.0.1, 10.0.0.0/8, ::1); empty means none.
type prefixesValue []netip.Prefix

func (v *prefixesValue) Set(s string) error {
	var list []netip.Prefix
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if ip, err := netip.ParseAddr(p); err == nil {
			ip = ip.Unmap()
			list = append(list, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or prefix (like 127.0.0.1, 10.0.0.0/8 or ::1)", p)
		}
		list = append(list, prefix.Masked())
	}
	*v = list
	return nil
}

func (v *prefixesValue) String() string {
	s := make([]string, len(*v))
	for i, p := range *v {
		if p.IsSingleIP() {
			s[i] = p.Addr().String()
		} else {
			s[i] = p.String()
		}
	}
	return strings.Join(s, ",")
}

func (v *prefixesValue) Type() string { return "addresses" }
