package cli

import (
	"bytes"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"sync"
)

// certReloader serves the TLS certificate of --tls-cert/--tls-key and
// picks up a renewed one without a restart: each TLS handshake reads both
// files (two small reads, next to the handshake's own cost; comparing
// contents rather than modification times, which a quick renewal can leave
// unchanged) and loads them if they differ from the pair in use; SIGHUP
// reloads them in any case. A pair that does not load (a half-written
// renewal, a key that does not match) is logged once and the previous
// certificate stays in use.
type certReloader struct {
	certFile, keyFile string       // set at construction
	log               *slog.Logger // set at construction

	mu      sync.Mutex
	cert    *tls.Certificate // guarded by mu
	certPEM []byte           // guarded by mu: the files' contents, as last tried
	keyPEM  []byte           // guarded by mu
}

// newCertReloader loads the pair once; an error names the flags.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	certPEM, keyPEM, err := c.read()
	if err == nil {
		err = c.use(certPEM, keyPEM)
	}
	if err != nil {
		return nil, usagef("--tls-cert/--tls-key: %v", err)
	}
	return c, nil
}

func (c *certReloader) read() (certPEM, keyPEM []byte, err error) {
	certPEM, err1 := os.ReadFile(c.certFile)
	keyPEM, err2 := os.ReadFile(c.keyFile)
	return certPEM, keyPEM, errors.Join(err1, err2)
}

// use makes the pair current if it loads. c.mu must be held, or c not yet
// shared.
func (c *certReloader) use(certPEM, keyPEM []byte) error {
	c.certPEM, c.keyPEM = certPEM, keyPEM
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	c.cert = &cert
	return nil
}

// GetCertificate is tls.Config.GetCertificate.
func (c *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, keyPEM, err := c.read()
	if err == nil && (!bytes.Equal(certPEM, c.certPEM) || !bytes.Equal(keyPEM, c.keyPEM)) {
		c.reloadLocked("file changed", certPEM, keyPEM)
	}
	return c.cert, nil
}

// Reload loads the pair again (SIGHUP), whether or not the files changed.
func (c *certReloader) Reload(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, keyPEM, err := c.read()
	if err != nil {
		c.log.Warn("TLS certificate not reloaded; keeping the previous one", "reason", reason, "err", err)
		return
	}
	c.reloadLocked(reason, certPEM, keyPEM)
}

func (c *certReloader) reloadLocked(reason string, certPEM, keyPEM []byte) {
	if err := c.use(certPEM, keyPEM); err != nil {
		// Tried once per content: not again at every handshake until a
		// file changes again.
		c.log.Warn("TLS certificate not reloaded; keeping the previous one", "reason", reason, "err", err)
		return
	}
	c.log.Info("TLS certificate reloaded", "reason", reason, "cert", c.certFile)
}

// tlsConfig is the server's TLS configuration: the reloader's certificate,
// TLS 1.2 or later. http.Server adds HTTP/2 to NextProtos (ALPN).
func (c *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12}
}
