package auth

import (
	"strings"
	"testing"
)

func TestSaslPasswordLineBreaks(t *testing.T) {
	// A 64-character hex secret (Spark's generated form) is 88 Base64
	// characters, with a newline after the 76th.
	s := strings.Repeat("ab", 32)
	p := saslPassword(s)
	if len(p) != 89 || p[76] != '\n' || strings.Count(p, "\n") != 1 {
		t.Fatalf("password %q", p)
	}
	// Whole groups that end a line at the very end get no newline.
	if p := saslPassword(strings.Repeat("x", 57)); strings.Contains(p, "\n") || len(p) != 76 {
		t.Fatalf("57-byte secret: %q", p)
	}
	if p := saslPassword("short"); p != "c2hvcnQ=" {
		t.Fatalf("short secret: %q", p)
	}
	if saslUserName(SaslUser) != "c3BhcmtTYXNsVXNlcg==" {
		t.Fatal("user name encoding")
	}
}

func TestConfErrors(t *testing.T) {
	t.Setenv(SecretEnv, "")
	cases := map[string][]string{
		"spark.authenticate.secret":                {"spark.authenticate=true"},
		"authEngineVersion":                        {"spark.authenticate=true", "spark.authenticate.secret=s", "spark.network.crypto.authEngineVersion=3"},
		"unknown cipher":                           {"spark.authenticate=true", "spark.authenticate.secret=s", "spark.network.crypto.cipher=RC4"},
		"spark.network.sasl.maxEncryptedBlockSize": {"spark.authenticate=true", "spark.authenticate.secret=s", "spark.network.sasl.maxEncryptedBlockSize=0"},
		"spark.authenticate":                       {"spark.authenticate=maybe"},
	}
	for want, kv := range cases {
		_, err := NewConf(conf(kv...), "rpc")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want error with %q, got %v", kv, want, err)
		}
	}
}

func TestConfCiphers(t *testing.T) {
	for _, c := range []string{"AES/CTR/NoPadding", "AES/GCM/NoPadding", "aes/gcm/nopadding"} {
		got, err := NewConf(conf("spark.authenticate=true", "spark.authenticate.secret=s",
			"spark.network.crypto.enabled=true", "spark.network.crypto.cipher="+c), "rpc")
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if _, _, err := SessionLayer(got.Cipher, &SessionKeys{Key: make([]byte, 16), InputIV: make([]byte, 16), OutputIV: make([]byte, 16)}, true); err != nil {
			t.Fatalf("%s: session layer: %v", c, err)
		}
	}
}

func TestSecretFromEnv(t *testing.T) {
	t.Setenv(SecretEnv, "from-env")
	c, err := NewConf(conf("spark.authenticate=true"), "rpc")
	if err != nil || c.Secret != "from-env" {
		t.Fatalf("%v %v", c, err)
	}
	if strings.Contains(c.String(), "from-env") {
		t.Fatal("String() shows the secret")
	}
}
