package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ember-rpc/ember/netpoll/auth"
	"github.com/ember-rpc/ember/netpoll/sparkconf"
)

// TestSecretCommand: the file is private, random, refuses to be
// overwritten without --force, and is the secret Ember's auth reads through
// spark.authenticate.secret.file; the printed lines are the ones to add;
// the spark-submit properties carry the same derived secret.
func TestSecretCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "conf", "spark-auth-secret")
	var out bytes.Buffer
	if err := secretCmd([]string{"--out", path}, &out); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	first, _ := os.ReadFile(path)
	if len(first) != 2*secretBytes {
		t.Fatalf("secret is %d bytes, want %d hex digits", len(first), 2*secretBytes)
	}
	for _, want := range []string{"spark.authenticate              true", "spark.authenticate.secret.file  " + path} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	err = secretCmd([]string{"--out", path}, &out)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second run without --force: err %v, want a refusal naming --force", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, first) {
		t.Fatalf("the refused run changed the file")
	}
	if err := secretCmd([]string{"--out", path, "--force"}, &out); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if bytes.Equal(second, first) {
		t.Fatalf("--force wrote the same secret")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("replaced secret file mode %v, want 0600", st.Mode().Perm())
	}

	// Ember's auth reads it.
	ac, err := auth.NewConf(sparkconf.New().Set("spark.authenticate", "true").Set("spark.authenticate.secret.file", path), "rpc")
	if err != nil {
		t.Fatal(err)
	}
	want := base64.StdEncoding.EncodeToString(second)
	if ac.Secret != want {
		t.Fatalf("auth reads secret %q, want the Base64 of the file", ac.Secret)
	}

	// The spark-submit properties reuse the existing secret.
	props := filepath.Join(dir, "conf", "spark-submit-auth.conf")
	out.Reset()
	if err := secretCmd([]string{"--out", path, "--spark-submit-conf", props}, &out); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, second) {
		t.Fatalf("--spark-submit-conf replaced the existing secret")
	}
	pc, err := sparkconf.LoadPropertiesFile(props)
	if err != nil {
		t.Fatal(err)
	}
	if got := pc["spark.authenticate.secret"]; got != want {
		t.Fatalf("spark-submit properties hold secret %q, want %q", got, want)
	}
	if st, _ := os.Stat(props); st.Mode().Perm() != 0o600 {
		t.Fatalf("properties file mode %v, want 0600", st.Mode().Perm())
	}
}
