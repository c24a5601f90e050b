module github.com/keypost/keypost

go 1.26

require (
	filippo.io/edwards25519 v1.2.0
	github.com/remitly-oss/httpsig-go v1.2.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	go.uber.org/goleak v1.3.0
	pgregory.net/rapid v1.3.0
)

require (
	github.com/dunglas/httpsfv v1.0.2 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
)
