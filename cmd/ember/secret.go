package main

// "ember secret" secures a cluster in one command: it writes a random
// shared secret to a file that only its owner can read, and prints the
// spark-defaults.conf lines that make every daemon, `ember submit` and the
// executors use it.
//
//	ember secret [--out FILE] [--force] [--spark-submit-conf FILE2]
//
// FILE defaults to $SPARK_CONF_DIR/spark-auth-secret, else
// conf/spark-auth-secret. An existing file is never overwritten without
// --force. The file holds 32 random bytes, written as 64 hex digits; Ember
// and Spark both use the Base64 of a secret file's bytes as the secret
// (spark.authenticate.secret.file).
//
// Spark 4.1's own spark-submit reads spark.authenticate.secret.file only
// with a Kubernetes master: against a standalone master it requires
// spark.authenticate.secret itself. --spark-submit-conf writes, beside the
// secret (reused when it exists), a properties file (mode 0600) holding
// that secret for `spark-submit --properties-file FILE2
// --load-spark-defaults`, so the secret never goes on a command line.

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// secretBytes is the secret's entropy: 256 bits.
const secretBytes = 32

func runSecret(args []string) error { return secretCmd(args, os.Stdout) }

func secretCmd(args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("secret", flag.ContinueOnError)
	def := filepath.Join("conf", "spark-auth-secret")
	if d := os.Getenv("SPARK_CONF_DIR"); d != "" {
		def = filepath.Join(d, "spark-auth-secret")
	}
	out := fset.String("out", def, "file to write the secret to (mode 0600)")
	force := fset.Bool("force", false, "overwrite existing files")
	submitConf := fset.String("spark-submit-conf", "", "also write a properties file (mode 0600) with the same secret for Spark's own spark-submit (--properties-file FILE --load-spark-defaults); an existing secret file is reused")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "usage: ember secret [--out FILE] [--force] [--spark-submit-conf FILE2]\n\n"+
			"Writes a random 256-bit secret to FILE (mode 0600) and prints the spark-defaults.conf lines that turn on\n"+
			"authentication with it. Copy FILE to the same path on every node.")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("secret: unexpected arguments %q", fset.Args())
	}
	path, err := filepath.Abs(*out)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	reused := false
	if *submitConf != "" && !*force {
		if _, err := os.Stat(path); err == nil {
			reused = true
		}
	}
	if !reused {
		var key [secretBytes]byte
		if _, err := rand.Read(key[:]); err != nil {
			return fmt.Errorf("secret: %w", err)
		}
		if err := writePrivate(path, []byte(hex.EncodeToString(key[:])), *force); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote a random %d-bit secret to %s (mode 0600)\n", secretBytes*8, path)
	} else {
		fmt.Fprintf(stdout, "using the secret in %s\n", path)
	}
	fmt.Fprintf(stdout, `
Copy it to the same path on every node (only the daemons' user should read it), and add to
conf/spark-defaults.conf on every node and wherever applications are submitted from:

spark.authenticate              true
spark.authenticate.secret.file  %s

Ember's master, workers, shuffle services, ember submit and the executors and drivers that workers
start all read it. Spark 4.1's own spark-submit reads the file only on Kubernetes; against a
standalone master run "ember secret --spark-submit-conf FILE2" and use
spark-submit --properties-file FILE2 --load-spark-defaults ...
`, path)
	if *submitConf == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	conf := fmt.Sprintf("# Spark's spark-submit against a standalone master: the secret of %s as Ember and Spark\n"+
		"# derive it from spark.authenticate.secret.file (the Base64 of the file's bytes). Keep this file private.\n"+
		"spark.authenticate         true\nspark.authenticate.secret  %s\n", path, base64.StdEncoding.EncodeToString(b))
	subPath, err := filepath.Abs(*submitConf)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	if err := writePrivate(subPath, []byte(conf), *force); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwrote %s (mode 0600) for: spark-submit --properties-file %s --load-spark-defaults ...\n", subPath, subPath)
	return nil
}

// writePrivate writes data to path with mode 0600, refusing an existing
// file unless force (then it is replaced by a rename, never truncated in
// place, so its old mode cannot leak the new bytes).
func writePrivate(path string, data []byte, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("secret: %s exists; pass --force to replace it (every node and client then needs the new file)", path)
		}
		if err != nil {
			return fmt.Errorf("secret: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("secret: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("secret: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ember-secret-*")
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	return nil
}
