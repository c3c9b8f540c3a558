// Package apitest proves Ember's public API from the outside. It has no
// code of its own, only tests:
//
//   - TestExternalModule builds and runs testdata/extmod, a module of its
//     own that imports only Ember's public packages (through a replace
//     directive) and uses the configuration (package sparkconf, Spark's
//     keys; netpoll.Conf; netpoll.NewTLS), the context-taking calls,
//     an echo server and client, authentication, actor asks (with
//     authentication, and over TLS) and a shuffle fetch, in both io
//     modes. The Go toolchain refuses an import of an internal package
//     from another module, so the build itself is the proof that an
//     embedder can reach everything it uses.
//   - TestNoInternalTypesInPublicAPI reads the source of every public
//     package and fails on an exported declaration whose signature or
//     exported fields name a type from an internal package, which another
//     module could not name.
//
// The external module is built offline: it is copied to a temporary
// directory with its replace directive pointed at this checkout, its go.sum
// joined with the library's, and built with GOFLAGS=-mod=mod and
// GOPROXY=off from the module cache that `go mod download` of the library
// filled.
package apitest
