// Package sparkconf reads Spark-style configuration for Ember.
//
// It is Ember's one configuration language, for the daemons and for Go
// programs that embed the transport (netpoll), the RPC environment
// (rpcenv) or the shuffle client (shuffle): Spark's keys are the names,
// so a setting means the same in spark-defaults.conf, on an ember command
// line and in an embedding program:
//
//	conf := sparkconf.New().
//		Set("spark.authenticate", "true").
//		Set("spark.authenticate.secret", secret).
//		Set("spark.network.crypto.enabled", "true"). // AES-CTR session encryption
//		Set("spark.rpc.io.mode", "NIO").
//		Set("spark.rpc.askTimeout", "30s")
//	env, err := rpcenv.Create(rpcenv.Config{Name: "app", BindHost: "127.0.0.1", Conf: conf})
//
// It lives under netpoll because the transport is the lowest layer that
// reads it (codec reads no configuration), and everything above imports
// it from there.
//
// The transport's typed settings (netpoll.Conf) are read from a Conf with
// netpoll.NewConf, or set field by field; TLS comes from the
// spark.ssl.rpc.* keys (netpoll.LoadTLS) or from Go's crypto/tls
// (netpoll.NewTLS).
//
// # Model
//
// A [Conf] is a flat set of string properties keyed by dotted names such as
// "spark.rpc.askTimeout" or "spark.shuffle.io.maxRetries", exactly as they
// appear in spark-defaults.conf or on a --conf command line. Values are kept
// as the raw strings the user wrote and are interpreted only when read, by a
// typed getter:
//
//   - [Conf.GetString], [Conf.Get] and [Conf.Contains] for plain strings;
//   - [Conf.GetInt], [Conf.GetInt64] and [Conf.GetBool] for numbers and flags;
//   - [Conf.GetDuration] for Spark time strings ("120s", "100ms", "5m", "1h",
//     "2d"; a bare number is taken in a caller-chosen default unit);
//   - [Conf.GetBytes] for Spark size strings ("64k", "48m", "1g"; binary
//     multiples; a bare number is taken in a caller-chosen default unit).
//
// Every typed getter returns the caller's default when the key is absent and
// an [*Error] naming the key and the offending value when the value is
// present but malformed. [ParseDuration] and [ParseBytes] expose the same
// grammars for strings that do not come from a Conf.
//
// [Conf.ModuleLookup] implements the role override used by Spark's transport
// layer: for role "driver" and module "rpc" the suffix "serverThreads" is
// looked up first as "spark.driver.rpc.io.serverThreads" and then as
// "spark.rpc.io.serverThreads". [Conf.FirstSet] resolves a key together with
// its deprecated or alternative spellings.
//
// [LoadPropertiesFile] reads a spark-defaults.conf style file (a subset of
// the Java properties format) into a map that can be handed to [FromMap].
//
// # Usage
//
//	props, err := sparkconf.LoadPropertiesFile("conf/spark-defaults.conf")
//	if err != nil {
//		return err
//	}
//	conf := sparkconf.FromMap(props).
//		Set("spark.app.name", "ember-demo")
//
//	timeout, err := conf.GetDuration("spark.rpc.askTimeout", 120*time.Second, time.Second)
//	if err != nil {
//		return err // e.g. sparkconf: invalid value "abc" for spark.rpc.askTimeout: ...
//	}
//	frame, err := conf.GetBytes("spark.rpc.message.maxSize", 128<<20, 1<<20)
//	_, threads, ok := conf.ModuleLookup("driver", "rpc", "serverThreads")
//
// # Concurrency
//
// A Conf is built once and then shared. Building means calling [New],
// [FromMap] or [Conf.Clone] followed by any number of [Conf.Set] calls; after
// the Conf has been handed to other goroutines it must be treated as
// read-only, and every read method may then be called from any number of
// goroutines at once. Set is intended for the building phase only: it is
// internally synchronised, so a stray Set cannot corrupt the Conf, but
// readers running at the same time may observe either the old or the new
// value. To derive a different configuration from a shared one, Clone it and
// Set on the clone.
//
// Read methods also accept a nil *Conf, which behaves as an empty
// configuration.
package sparkconf
